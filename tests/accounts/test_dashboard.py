"""The dashboard's figures are the database's own, for the context it is looked at in."""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from django.db.models import Sum

from apikeys.models import ApiKey
from apikeys.services import apikey_revoke
from billing.templatetags.money import credits
from orgs import permissions
from orgs.permissions import PERMISSION_ROLES, Perm, Role
from orgs.role_text import roles_sentence
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import fund, join, key_make, personal, team
from tests.site.pages import figure, in_org, usage_event
from usage.models import UsageEvent
from usage.selectors import month_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy(user):
    """A personal account with three keys (one revoked) and events this month and last."""
    org = personal(user)
    fund(org, 500)
    keys = [key_make(org=org, actor=user, name=f"key-{i}")[0] for i in range(3)]
    apikey_revoke(key=keys[2], actor=user)
    for cost in (1_500_000, 2_250_000, 125):
        usage_event(keys[0], cost_microcredits=cost)
    usage_event(keys[1], cost_microcredits=3_000_000)
    usage_event(
        keys[1], cost_microcredits=99_000_000, occurred_at=month_start() - timedelta(seconds=1)
    )
    return org


def test_dashboard_counts_the_active_keys_of_the_context(user, client_for, busy):
    html = client_for(user).get("/dashboard").content.decode()
    expected = ApiKey.objects.filter(organization=busy, status=ApiKey.Status.ACTIVE).count()
    assert expected == 2
    assert figure(html, "dashboard-keys") == str(expected)


def test_dashboard_spend_is_this_utc_months_usage(user, client_for, busy):
    html = client_for(user).get("/dashboard").content.decode()
    start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month = UsageEvent.objects.filter(organization=busy, occurred_at__gte=start)
    spent = month.aggregate(s=Sum("cost_microcredits"))["s"]
    assert spent == 6_750_125  # last month's 99 credits are not in it
    assert figure(html, "dashboard-spend") == credits(spent) == "6.75"
    assert figure(html, "dashboard-requests").startswith(f"{month.count()} requests")


def test_dashboard_of_an_org_shows_the_orgs_figures_not_the_personal_ones(user, client_for, busy):
    org = team(user, "Acme Inc")
    key, _ = key_make(org=org, actor=user, name="team-key")
    usage_event(key, cost_microcredits=42_000_000)
    html = in_org(client_for(user), org).get("/dashboard").content.decode()
    assert figure(html, "dashboard-keys") == "1"
    assert figure(html, "dashboard-spend") == "42.00"


def steps_done(html: str) -> set[str]:
    return set(re.findall(r'class="checklist__item is-done" data-step="(\w+)"', html))


def test_checklist_ticks_only_what_is_done(client_for):

    fresh = UserFactory(verified_email=False)
    client = client_for(fresh)
    assert steps_done(client.get("/dashboard").content.decode()) == set()

    EmailAddress.objects.create(user=fresh, email=fresh.email, primary=True, verified=True)
    assert steps_done(client.get("/dashboard").content.decode()) == {"email"}

    org = personal(fresh)
    fund(org, 1)
    key, _ = key_make(org=org, actor=fresh)
    assert steps_done(client.get("/dashboard").content.decode()) == {"email", "funded", "key"}

    usage_event(key, cost_microcredits=10)
    assert steps_done(client.get("/dashboard").content.decode()) == {
        "email",
        "funded",
        "key",
        "request",
    }


def test_a_revoked_key_alone_does_not_tick_the_key_step(user, client_for):
    org = personal(user)
    key, _ = key_make(org=org, actor=user)
    apikey_revoke(key=key, actor=user)
    assert "key" not in steps_done(client_for(user).get("/dashboard").content.decode())


@pytest.mark.parametrize("role", [r for r in Role if r != Role.OWNER])
def test_dashboard_offers_only_what_the_role_allows(client_for, role):

    owner = UserFactory()
    org = team(owner, "Acme Inc")
    fund(org, 10)
    member = join(org, role)
    html = in_org(client_for(member), org).get("/dashboard").content.decode()
    allows = {perm: role in roles for perm, roles in PERMISSION_ROLES.items()}
    assert ('data-testid="dashboard-balance"' in html) == allows[Perm.BILLING_VIEW]
    assert ('data-testid="card-keys"' in html) == allows[Perm.KEYS_VIEW]
    assert ("Create your first API key" in html) == allows[Perm.KEYS_MANAGE]
    assert ('data-step="funded"' in html) == allows[Perm.BILLING_VIEW]


def test_the_balance_sentence_follows_the_role_table(client_for):

    owner = UserFactory()
    org = team(owner, "Acme Inc")
    developer = join(org, Role.DEVELOPER)
    html = in_org(client_for(developer), org).get("/dashboard").content.decode()
    sentence = figure(html, "balance-roles")
    plural = {
        Role.OWNER: "owners",
        Role.ADMIN: "admins",
        Role.DEVELOPER: "developers",
        Role.BILLING: "billing members",
        Role.VIEWER: "viewers",
    }
    holders = [plural[r] for r in Role if r in PERMISSION_ROLES[Perm.BILLING_VIEW]]
    for name in holders:
        assert name in sentence.lower()
    for role in set(Role) - PERMISSION_ROLES[Perm.BILLING_VIEW]:
        assert plural[role] not in sentence.lower()


def test_the_balance_sentence_changes_with_the_table(client_for, monkeypatch):

    owner = UserFactory()
    org = team(owner, "Acme Inc")
    developer = join(org, Role.DEVELOPER)
    monkeypatch.setitem(
        permissions.PERMISSION_ROLES, Perm.BILLING_VIEW, frozenset({Role.OWNER, Role.BILLING})
    )
    html = in_org(client_for(developer), org).get("/dashboard").content.decode()
    assert figure(html, "balance-roles").endswith("Owners and billing members can see the balance.")


def test_the_viewers_checklist_names_who_may_act_from_the_table(client_for):

    owner = UserFactory()
    org = team(owner, "Acme Inc")
    viewer = join(org, Role.VIEWER)
    html = in_org(client_for(viewer), org).get("/dashboard").content.decode()
    assert f"{roles_sentence(Perm.BILLING_MANAGE)} can top up." in html
    assert f"{roles_sentence(Perm.KEYS_MANAGE)} can create one." in html
    assert roles_sentence(Perm.BILLING_MANAGE) == "Owners and billing members"


SPARK_ROW = re.compile(
    r'<tr data-date="([\d-]+)"><th scope="row">[^<]*</th><td>(\d+)</td><td data-cost="(\d+)">'
)
SPARK_BAR = re.compile(
    r'<rect class="sparkline__bar"[^>]*height="([\d.]+)" data-date="([\d-]+)">'
    r"<title>([^<]*)</title>"
)


def sparkline(html: str) -> str:
    match = re.search(
        r'<figure class="sparkline" data-testid="sparkline">(.*?)</figure>', html, re.S
    )
    assert match, "no sparkline on the dashboard"
    return match.group(1)


def test_sparkline_days_are_the_databases_daily_sums_in_the_viewers_zone(user, client_for):
    user.timezone = "Asia/Kolkata"  # +05:30: a half-hour offset, local days differ from UTC's
    user.save(update_fields=["timezone"])
    tz = ZoneInfo("Asia/Kolkata")
    org = personal(user)
    key, _ = key_make(org=org, actor=user, name="spark")
    now = datetime.now(UTC)
    today = now.astimezone(tz).date()
    first = today - timedelta(days=29)
    boundary = datetime.combine(today - timedelta(days=5), time.min, tzinfo=tz)
    for moment, cost in (
        (boundary - timedelta(seconds=1), 1_000_000),  # the local day before
        (boundary + timedelta(seconds=1), 2_000_000),  # the local day itself
        (boundary + timedelta(hours=3), 500),
        (now - timedelta(days=12), 7_250_000),
        (now - timedelta(days=12, minutes=5), 3),
        (datetime.combine(first, time.min, tzinfo=tz) - timedelta(seconds=1), 80_000_000),
    ):
        usage_event(key, cost_microcredits=cost, occurred_at=moment)
    stranger = UserFactory()
    other_key, _ = key_make(org=team(stranger, "Elsewhere"), actor=stranger, name="theirs")
    usage_event(other_key, cost_microcredits=55_000_000, occurred_at=boundary + timedelta(hours=1))

    html = sparkline(client_for(user).get("/dashboard").content.decode())

    expected = {(first + timedelta(days=i)).isoformat(): [0, 0] for i in range(30)}
    window = UsageEvent.objects.filter(
        organization=org, occurred_at__gte=datetime.combine(first, time.min, tzinfo=tz)
    )
    for occurred, cost in window.values_list("occurred_at", "cost_microcredits"):
        expected[occurred.astimezone(tz).date().isoformat()][0] += 1
        expected[occurred.astimezone(tz).date().isoformat()][1] += cost
    shown = {day: [int(n), int(cost)] for day, n, cost in SPARK_ROW.findall(html)}
    assert shown == expected
    assert expected[(boundary - timedelta(days=1)).date().isoformat()] == [1, 1_000_000]
    assert expected[boundary.date().isoformat()] == [2, 2_000_500]  # not the other tenant's

    spent = {day: cost for day, (_, cost) in expected.items() if cost}
    bars = SPARK_BAR.findall(html)
    assert {day for _, day, _ in bars} == set(spent)
    for _height, day, title in bars:
        assert title == f"{day}: {credits(spent[day])} credits"
    peak_day = max(spent, key=spent.get)
    assert [h for h, day, _ in bars if day == peak_day] == ["100.000"]
    total = sum(spent.values())
    assert total == 10_250_503
    assert f"last 30 days: {credits(total)} credits</title>" in html
    assert f"the most was {credits(spent[peak_day])} credits on {peak_day}." in html


def test_sparkline_without_usage_has_no_bars(client_for):
    fresh = UserFactory()
    personal(fresh)
    response = client_for(fresh).get("/dashboard")
    assert response.status_code == 200
    html = sparkline(response.content.decode())
    assert "<rect" not in html
    rows = SPARK_ROW.findall(html)
    assert len(rows) == 30
    assert {(n, cost) for _, n, cost in rows} == {("0", "0")}
    assert "No spend in the last 30 days (UTC)." in html
    assert "last 30 days: 0.00 credits</title>" in html
