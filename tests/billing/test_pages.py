"""The billing pages: public prices, the wallet of the current context, monthly statements
and the low-balance alert form."""

import contextlib
import csv
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html import unescape

import pytest
from django.utils import timezone

from billing import ledger
from billing.ledger import wallet_get_or_create as wallet_for
from billing.models import CatalogModel, LedgerEntry, Payment, Wallet
from orgs.models import AuditEvent
from orgs.services import personal_org_get_or_create
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

CREDIT = 1_000_000
_keys = iter(range(1, 10**9))


def personal_wallet_of(user) -> Wallet:
    return wallet_for(organization=personal_org_get_or_create(user=user))


@contextlib.contextmanager
def posted_at(when: datetime):
    """Entries posted inside get ``created_at=when``. The ledger is append-only (a
    PostgreSQL trigger refuses UPDATE), so the time is set as the row is written: the
    field's default is bound to ``timezone.now`` at import, so it is the field's cached
    default that is swapped, not the module attribute."""
    field = LedgerEntry._meta.get_field("created_at")
    field._get_default = lambda: when
    try:
        yield
    finally:
        del field.__dict__["_get_default"]


def post(wallet, credits, *, when=None, kind=LedgerEntry.Kind.TOPUP, description="test"):
    kwargs = dict(
        wallet=wallet,
        amount_microcredits=int(Decimal(str(credits)) * CREDIT),
        kind=kind,
        idempotency_key=f"pages-test:{next(_keys)}:{wallet.pk}",
        description=description,
    )
    if when is None:
        return ledger.ledger_post(**kwargs)
    with posted_at(when):
        return ledger.ledger_post(**kwargs)


# --- /models ------------------------------------------------------------------------------------


def model_rows(html: str) -> list[str]:
    return re.findall(r"<td><code>([^<]+)</code>", html)


def test_models_page_is_public_and_lists_active_models_only(client):
    CatalogModel.objects.filter(model_id="gpt-5").update(active=False)
    response = client.get("/models")
    assert response.status_code == 200
    rows = model_rows(response.content.decode())
    active = set(CatalogModel.objects.filter(active=True).values_list("model_id", flat=True))
    assert set(rows) == active and len(rows) == len(active)
    assert "gpt-5" not in rows and "gpt-5.5" in rows


def test_models_page_shows_credits_and_usd(client):
    html = client.get("/models?q=gpt-5.5-pro").content.decode()
    row = html[html.index("<code>gpt-5.5-pro</code>") :].split("</tr>")[0]
    # 1,500 / 12,000 credits per Mtok = $15 / $120 per Mtok.
    assert "1,500 / 12,000" in row and "$15 / $120" in row
    html = client.get("/models?q=nano_banana_pro").content.decode()
    row = html[html.index("<code>nano_banana_pro</code>") :].split("</tr>")[0]
    assert "per image" in row and "12.00" in row and "$0.12" in row
    html = client.get("/models?q=gpt-image-2").content.decode()
    row = html[html.index("<code>gpt-image-2</code>") :].split("</tr>")[0]
    assert "1K: 4.00" in row and "4K: 16.00" in row and "$0.16" in row
    html = client.get("/models?q=wan2.6-flash").content.decode()
    assert "per second (max 10 s)" in html
    assert "100 credits = 1.00 USD" in html


def test_models_page_filters_by_family_and_search(client):
    rows = model_rows(client.get("/models?family=video").content.decode())
    video = set(CatalogModel.objects.filter(family="video").values_list("model_id", flat=True))
    assert set(rows) == video and "veo3.1-fast" in rows and "gpt-5.5" not in rows

    rows = model_rows(client.get("/models?q=CLAUDE").content.decode())
    assert set(rows) == {"claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5"}

    rows = model_rows(client.get("/models?family=gemini&q=vip").content.decode())
    assert set(rows) == {
        "gemini-2.0-flash-vip",
        "gemini-2.5-flash-vip",
        "gemini-2.5-pro-vip",
        "gemini-3-flash-preview-vip",
    }
    # Search matches display names too.
    assert "doubao-seedream-4-5" in model_rows(
        client.get("/models?q=Seedream 4.5").content.decode()
    )

    html = client.get("/models?q=no-such-model").content.decode()
    assert model_rows(html) == [] and "No model matches." in html
    # An unknown family is ignored rather than emptying the list.
    assert len(model_rows(client.get("/models?family=bogus").content.decode())) == (
        CatalogModel.objects.filter(active=True).count()
    )


def test_models_page_shows_legacy_aliases(client):
    html = client.get("/models?q=claude-sonnet-4-6").content.decode()
    assert "claude-3-5-sonnet-20241022" in html


def test_models_page_for_a_signed_in_user_uses_the_console_layout(client_for, user):
    html = client_for(user).get("/models").content.decode()
    assert 'class="sidenav"' in html


# --- /billing: the current context's wallet only -------------------------------------------------


@pytest.fixture
def two_wallets(user, team_of):
    """The user's personal wallet and their team's, with different money in each, and a
    stranger's organization with money of its own."""
    personal = personal_wallet_of(user)
    post(personal, "1250", description="personal top-up")
    org = team_of(user, "Acme Inc")
    team = wallet_for(organization=org)
    post(team, "777", description="team top-up")
    post(team, "-0.000125", kind=LedgerEntry.Kind.USAGE, description="team usage")
    ledger.hold_place(wallet=team, amount_microcredits=5 * CREDIT, reference="job-team-1")
    Payment.objects.create(wallet=team, amount_cents=777_00, credits=77_700, status="paid")
    Payment.objects.create(wallet=personal, amount_cents=1_234_50, credits=123_450, status="paid")

    stranger = UserFactory()
    other_org = team_of(stranger, "Globex")
    other = wallet_for(organization=other_org)
    post(other, "999999", description="globex top-up")
    ledger.hold_place(wallet=other, amount_microcredits=3 * CREDIT, reference="job-globex")
    return org, other_org


def test_billing_shows_the_personal_wallet_in_the_personal_context(user, in_context, two_wallets):
    html = in_context(user).get("/billing").content.decode()
    balance = (
        re.search(r'data-testid="balance">(?:<bdi dir="ltr">)?([^<]+)<', html).group(1).strip()
    )
    assert balance == "1,250.00"
    assert "$12.50" in html  # 1,250 credits in dollars
    assert "personal top-up" in html and "$1,234.50" in html
    assert "team top-up" not in html and "globex" not in html.lower()
    assert "Open holds" not in html


def test_billing_shows_the_org_wallet_in_the_org_context(user, in_context, two_wallets):
    org, _other = two_wallets
    html = in_context(user, org).get("/billing").content.decode()
    balance = (
        re.search(r'data-testid="balance">(?:<bdi dir="ltr">)?([^<]+)<', html).group(1).strip()
    )
    assert balance == "777.00"  # 776.999875 shown to two places
    assert "Prepaid credits shared by everyone in <bdi>Acme Inc</bdi>." in html
    assert "team top-up" in html and "team usage" in html
    assert "-0.000125" in html  # every micro-credit of a movement is shown
    assert "Open holds" in html and "job-team-1" in html
    assert "772.00" in html  # available = 776.999875 − 5 held, shown to two places
    assert "$777.00" in html
    for foreign in ("personal top-up", "$1,234.50", "1,250.00", "Globex", "job-globex", "999,999"):
        assert foreign not in html


def test_a_stranger_cannot_switch_into_another_orgs_billing(two_wallets, client_for):
    org, _other = two_wallets
    client = client_for(UserFactory())
    response = client.post("/context/switch", {"organization": org.public_id})
    assert response.status_code == 404
    html = client.get("/billing").content.decode()
    assert "team top-up" not in html and "No movements yet" in html


def test_billing_requires_sign_in(client):
    response = client.get("/billing")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- statements -----------------------------------------------------------------------------------


@pytest.fixture
def months(user):
    """Movements in January, on both sides of the February boundary, and in March 2026."""
    wallet = personal_wallet_of(user)
    post(wallet, "1000", when=datetime(2026, 1, 15, 12, 0, tzinfo=UTC), description="jan in")
    post(
        wallet,
        "-100",
        kind=LedgerEntry.Kind.USAGE,
        when=datetime(2026, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        description="jan last µs",
    )
    post(wallet, "50", when=datetime(2026, 2, 1, 0, 0, tzinfo=UTC), description="feb first")
    post(
        wallet,
        "-25.000001",
        kind=LedgerEntry.Kind.USAGE,
        when=datetime(2026, 2, 20, 8, 30, tzinfo=UTC),
        description="feb usage",
    )
    post(wallet, "10", when=datetime(2026, 3, 3, tzinfo=UTC), description="mar in")
    return wallet


def statement_figures(html: str) -> tuple[str, str]:
    opening = re.search(r'data-testid="opening">(?:<bdi dir="ltr">)?([^<]+)<', html).group(1)
    closing = re.search(r'data-testid="closing"><strong>(?:<bdi dir="ltr">)?([^<]+)<', html).group(
        1
    )
    return opening, closing


@pytest.mark.parametrize(
    "month, opening, closing, shown, hidden",
    [
        ("2026-01", "0.00", "900.00", ["jan in", "jan last µs"], ["feb first"]),
        ("2026-02", "900.00", "925.00", ["feb first", "feb usage"], ["jan last µs", "mar in"]),
        ("2026-03", "925.00", "935.00", ["mar in"], ["feb usage"]),
        ("2026-04", "935.00", "935.00", [], ["mar in"]),
    ],
)
def test_statement_balances_across_month_boundaries(
    user, in_context, months, month, opening, closing, shown, hidden
):
    html = in_context(user).get(f"/billing/statement?month={month}").content.decode()
    assert statement_figures(html) == (opening, closing)
    for text in shown:
        assert text in html
    for text in hidden:
        assert text not in html


def read_csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.mark.parametrize("month", ["2026-01", "2026-02", "2026-03", "2026-05"])
def test_statement_csv_sums_to_closing_minus_opening(user, in_context, months, month):
    response = in_context(user).get(f"/billing/statement.csv?month={month}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert f'filename="hypereal-statement-personal-{month}.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0]["kind"] == "opening" and rows[-1]["kind"] == "closing"
    opening = Decimal(rows[0]["balance_credits"])
    closing = Decimal(rows[-1]["balance_credits"])
    movements = rows[1:-1]
    assert sum((Decimal(r["amount_credits"]) for r in movements), Decimal(0)) == closing - opening
    # Each row's balance is the running balance, to the micro-credit.
    running = opening
    for row in movements:
        running += Decimal(row["amount_credits"])
        assert Decimal(row["balance_credits"]) == running
    if month == "2026-02":
        assert (opening, closing) == (Decimal("900"), Decimal("924.999999"))
        assert [r["description"] for r in movements] == ["feb first", "feb usage"]
        assert movements[0]["time"] == "2026-02-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "month", ["2026-13", "2026-1", "26-01", "abc", "2026-00", "2026-01-01", "0000-01"]
)
@pytest.mark.parametrize("path", ["/billing/statement", "/billing/statement.csv"])
def test_invalid_month_is_a_400(user, in_context, path, month):
    response = in_context(user).get(f"{path}?month={month}")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="sidenav"' in html  # the console page, never a bare body
    assert "Pick a month as year and month" in html


@pytest.mark.parametrize("path", ["/billing/statement", "/billing/statement.csv"])
@pytest.mark.parametrize(
    "month, reason",
    [
        ("2025-12", "There is no statement for 2025-12"),
        ("1999-12", "There is no statement for 1999-12"),
        ("9999-12", "9999-12 has not begun yet"),
    ],
)
def test_a_month_outside_the_account_has_no_statement_nor_csv(
    user, in_context, months, path, month, reason
):
    """The CSV never invents opening and closing rows for a month the account never had."""
    response = in_context(user).get(f"{path}?month={month}")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    html = unescape(response.content.decode())
    assert 'class="sidenav"' in html and reason in html


def test_a_month_before_the_account_is_a_friendly_page(user, in_context, months):
    response = in_context(user).get("/billing/statement?month=2025-12")
    assert response.status_code == 404
    html = unescape(response.content.decode())
    assert 'class="sidenav"' in html
    assert "There is no statement for 2025-12: this account's first month is 2026-01." in html
    assert "jan in" not in html


def test_a_future_month_is_a_friendly_page(user, in_context):
    today = timezone.now().date()
    future = date(today.year + 1, today.month, 1).strftime("%Y-%m")
    response = in_context(user).get(f"/billing/statement?month={future}")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'class="sidenav"' in html and f"{future} has not begun yet" in html


def test_the_first_month_has_no_link_to_the_month_before(user, in_context, months):
    html = in_context(user).get("/billing/statement?month=2026-01").content.decode()
    assert "?month=2025-12" not in html and "?month=2026-02" in html


def test_statement_without_a_month_is_the_current_one(user, in_context):
    html = in_context(user).get("/billing/statement").content.decode()
    assert f'value="{timezone.now():%Y-%m}"' in html
    assert "Statement for" in html


@pytest.mark.parametrize("role, status", [("viewer", 200), ("billing", 200), ("developer", 403)])
def test_statement_follows_billing_view(user, team_of, join, in_context, role, status):
    org = team_of(user)
    client = in_context(join(org, role), org)
    assert client.get("/billing/statement").status_code == status
    this_month = f"{timezone.now():%Y-%m}"
    assert client.get(f"/billing/statement.csv?month={this_month}").status_code == status


# --- the low-balance alert form -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, message",
    [
        ("abc", "Enter a number of credits."),
        ("-5", "Enter zero or more credits."),
        ("1.1234567", "Use at most 6 decimal places."),
        ("NaN", "Enter a number of credits."),
    ],
)
def test_threshold_form_rejects_bad_input(user, in_context, value, message):
    client = in_context(user)
    response = client.post("/billing/alerts", {"threshold": value})
    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(r'id="id_threshold_errors">(.*?)</div>', html, re.S)
    assert errors and message in errors.group(1)
    assert personal_wallet_of(user).low_balance_threshold_microcredits is None
    assert not AuditEvent.objects.filter(action="billing.alert_threshold_set").exists()


def test_threshold_form_saves_and_audits(user, in_context):
    client = in_context(user)
    response = client.post("/billing/alerts", {"threshold": "1,500.25"})
    assert response.status_code == 302 and response["Location"] == "/billing"
    wallet = personal_wallet_of(user)
    assert wallet.low_balance_threshold_microcredits == 1_500_250_000
    event = AuditEvent.objects.get(action="billing.alert_threshold_set")
    assert event.organization == wallet.organization
    html = client.get("/billing").content.decode()
    assert "We will email you when the balance drops below 1,500.25 credits." in html
    assert 'value="1500.25"' in html  # the form shows the saved threshold

    response = client.post("/billing/alerts", {"threshold": ""})
    assert response.status_code == 302
    assert personal_wallet_of(user).low_balance_threshold_microcredits is None
    assert AuditEvent.objects.filter(action="billing.alert_threshold_set").count() == 2
    assert "Low-balance alert turned off." in client.get("/billing").content.decode()


@pytest.mark.parametrize("role, status", [("billing", 302), ("admin", 403), ("viewer", 403)])
def test_threshold_needs_billing_manage(user, team_of, join, in_context, role, status):
    org = team_of(user)
    client = in_context(join(org, role), org)
    response = client.post("/billing/alerts", {"threshold": "50"})
    assert response.status_code == status
    expected = 50 * CREDIT if status == 302 else None
    assert wallet_for(organization=org).low_balance_threshold_microcredits == expected
    assert personal_wallet_of(user).low_balance_threshold_microcredits is None
