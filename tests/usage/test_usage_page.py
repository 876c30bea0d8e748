"""``/usage``: the page's figures are the database's, for every role and context; the log
pages by keyset; a request opens only in its own tenant."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Count, Sum

from billing.templatetags.money import credits, usd
from orgs.permissions import Role
from tests.apikeys.factories import join, key_make, personal, team
from tests.site.pages import figure, in_org
from tests.usage.analytics import ev
from usage.models import UsageEvent

pytestmark = pytest.mark.django_db


def cells(html: str, testid: str, attr: str) -> dict[str, int]:
    """``{row's attr value: data-cost}`` of a table on the page."""
    table = re.search(rf'data-testid="{testid}".*?</table>', html, re.S)
    assert table, testid
    return {
        m.group(1): int(m.group(2))
        for m in re.finditer(rf'<tr {attr}="([^"]*)".*?data-cost="(\d+)"', table.group(0), re.S)
    }


@pytest.fixture
def data(user):
    org = personal(user)
    key, _ = key_make(org=org, actor=user, name="prod")
    other, _ = key_make(org=org, actor=user, name="batch")
    now = datetime.now(UTC)
    for i in range(12):  # 10 models: the top 8 and "other"
        ev(key if i % 2 else other, cost=1_000_000 * (i + 1), model=f"m{i % 10}",
           at=now - timedelta(days=i), input_tokens=10 * i, images=i % 3)  # fmt: skip
    ev(key, cost=777, model="m0", at=now - timedelta(days=45))  # outside 30 days
    return org, key, other


def test_the_pages_figures_are_the_databases(user, client_for, data):
    org, _key, _other = data
    html = client_for(user).get("/usage").content.decode()
    db = UsageEvent.objects.filter(
        organization=org, occurred_at__gte=datetime.now(UTC) - timedelta(days=30)
    )
    agg = db.aggregate(n=Count("pk"), c=Sum("cost_microcredits"), i=Sum("input_tokens"),
                       im=Sum("images"))  # fmt: skip
    assert figure(html, "usage-requests") == str(agg["n"]) == "12"
    assert figure(html, "usage-spend") == credits(agg["c"])
    assert figure(html, "usage-spend-usd") == usd(agg["c"])
    assert figure(html, "usage-input-tokens") == str(agg["i"])
    assert figure(html, "usage-images") == str(agg["im"])
    by_model = dict(db.values_list("model").annotate(s=Sum("cost_microcredits")))
    shown = cells(html, "table-models", "data-model")
    top8 = sorted(by_model, key=lambda m: -by_model[m])[:8]
    assert {m: shown[m] for m in top8} == {m: by_model[m] for m in top8}
    assert shown[""] == sum(v for m, v in by_model.items() if m not in top8)  # "other"
    assert sum(shown.values()) == agg["c"]
    by_key = dict(db.values_list("key__public_id").annotate(s=Sum("cost_microcredits")))
    assert cells(html, "table-keys", "data-key") == by_key
    daily = cells(html, "table-daily", "data-date")
    assert sum(daily.values()) == agg["c"] and len(daily) in (30, 31)
    top = cells(html, "table-top", "data-request")
    expected = db.order_by("-cost_microcredits")[:10]
    assert top == {e.request_id: e.cost_microcredits for e in expected}
    assert html.count('role="img"') == 3
    assert html.count("<title>") == 1 + 9 + 12 + 2  # the head, then slices, bars, keys
    assert 'data-testid="usage-export"' in html


def test_filters_and_range_are_read_from_the_url(user, client_for, data):
    org, key, _other = data
    client = client_for(user)
    html = client.get(f"/usage?days=90&key={key.public_id}&model=m1").content.decode()
    db = UsageEvent.objects.filter(organization=org, key=key, model="m1")
    assert figure(html, "usage-requests") == str(db.count()) == "2"
    assert figure(html, "usage-spend") == credits(db.aggregate(s=Sum("cost_microcredits"))["s"])
    # The export button exports what the page shows.
    assert "/api/api-usage/export?" in html and f"key={key.public_id}" in html
    html = client.get("/usage?days=90").content.decode()
    assert figure(html, "usage-requests") == "13"
    bad = client.get("/usage?days=999")
    assert bad.status_code == 400
    assert figure(bad.content.decode(), "usage-requests") == "12"  # the 30 days, unfiltered


def test_log_pages_by_keyset_with_htmx_and_without(user, client_for, data):
    org, _key, _other = data
    for i in range(60):
        ev(_key, cost=1, request_id=f"bulk-{i:02d}")
    client = client_for(user)
    html = client.get("/usage").content.decode()
    log_part = html[html.index('data-testid="usage-log"') :]
    first = re.findall(r'<tr data-request="([^"]+)">', log_part)
    assert len(first) == 50
    more = re.search(r'data-testid="usage-load-more" href="\?([^"]+)"', html).group(1)
    more = more.replace("&amp;", "&")
    rest = client.get(f"/usage?{more}", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in rest
    second = re.findall(r'<tr data-request="([^"]+)">', rest)
    expected = list(
        UsageEvent.objects.filter(
            organization=org, occurred_at__gte=datetime.now(UTC) - timedelta(days=30)
        )
        .order_by("-occurred_at", "-pk")
        .values_list("request_id", flat=True)
    )
    assert first + second == expected
    assert "usage-load-more" not in rest
    plain = client.get(f"/usage?{more}").content.decode()  # without JS: a whole page
    assert "<html" in plain and second[0] in plain


@pytest.mark.parametrize("role", list(Role))
def test_every_role_sees_the_page_in_an_org(owner, client_for, role):
    org = team(owner)
    key, _ = key_make(org=org, actor=owner)
    ev(key, cost=2_500_000)
    member = owner if role == Role.OWNER else join(org, role)
    html = in_org(client_for(member), org).get("/usage").content.decode()
    assert figure(html, "usage-spend") == "2.50"
    assert ('data-testid="usage-export"' in html) == (role != Role.DEVELOPER)


def test_request_detail_is_tenant_scoped(user, client_for, data):
    _org, key, _other = data
    event = ev(key, cost=1234, request_id="req_detail-1", status_code=429, provider="openai")
    client = client_for(user)
    html = client.get("/usage/requests/req_detail-1").content.decode()
    assert figure(html, "usage-request-cost") == "0.001234"
    assert figure(html, "usage-request-status") == "429"
    assert key.name in html and event.provider in html
    stranger = team(user, "Elsewhere")
    their_key, _ = key_make(org=stranger, actor=user)
    ev(their_key, request_id="req_theirs")
    assert client.get("/usage/requests/req_theirs").status_code == 404
    assert client.get("/usage/requests/nope").status_code == 404


def test_empty_states_say_what_to_do(user, client_for, owner):
    html = client_for(user).get("/usage").content.decode()
    assert 'data-testid="usage-empty"' in html and "Create a key" in html
    org = team(owner)
    viewer = join(org, Role.VIEWER)
    html = in_org(client_for(viewer), org).get("/usage").content.decode()
    assert "Create an API key" in html and "Create a key</a>" not in html  # no action link
