"""Staff grant or correct credits from the Wallet admin: one ledger entry with the
reason, one audit event in the owner's log; nothing without a reason; nobody else may."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from billing.models import LedgerEntry
from orgs.models import AuditEvent

from .factories import CREDIT, fund, personal_wallet, team_wallet
from .factories import fresh as reload

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser(email="ops@hypereal.example", password="long-passphrase")


def staff_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(wallet) -> str:
    return f"/admin/billing/wallet/{wallet.pk}/adjust/"


def staff_entries():
    return LedgerEntry.objects.filter(kind__in=["grant", "adjustment"])


def test_the_wallet_list_links_to_the_adjust_form(superuser):
    wallet = personal_wallet()
    client = staff_client(superuser)

    listing = client.get("/admin/billing/wallet/")
    form = client.get(url(wallet))

    assert listing.status_code == 200
    assert url(wallet).encode() in listing.content
    assert form.status_code == 200
    assert b'name="reason"' in form.content and b'name="nonce"' in form.content


def test_a_grant_posts_an_entry_with_the_reason_and_audits_it(superuser):
    wallet = team_wallet(name="Acme Inc")
    fund(wallet, 10 * CREDIT)
    client = staff_client(superuser)

    response = client.post(
        url(wallet),
        {"kind": "grant", "amount": "250.5", "reason": "Outage credit, ticket 4411", "nonce": "n1"},
        follow=True,
    )

    assert response.redirect_chain == [("/admin/billing/wallet/", 302)]
    assert b"balance now 260.50" in response.content
    entry = staff_entries().get()
    assert entry.wallet_id == wallet.pk
    assert entry.kind == "grant"
    assert entry.amount_microcredits == 250_500_000
    assert entry.description == "Outage credit, ticket 4411"
    assert entry.actor == superuser and entry.actor_label == "ops@hypereal.example"
    assert entry.balance_after_microcredits == 260_500_000
    assert reload(wallet).balance_microcredits == 260_500_000
    event = AuditEvent.objects.get(organization=wallet.organization, action="billing.grant")
    assert event.actor == superuser
    assert event.after == {
        "amount_microcredits": 250_500_000,
        "reason": "Outage credit, ticket 4411",
        "balance_after_microcredits": 260_500_000,
    }


def test_a_correction_may_remove_credits_from_a_personal_account(superuser):
    wallet = personal_wallet()
    fund(wallet, 10 * CREDIT)

    staff_client(superuser).post(
        url(wallet),
        {"kind": "adjustment", "amount": "-12", "reason": "Duplicate top-up", "nonce": "n1"},
    )

    assert reload(wallet).balance_microcredits == -2 * CREDIT
    event = AuditEvent.objects.get(action="billing.adjustment")
    assert event.organization == wallet.organization  # the personal account's own log


def test_a_resent_form_posts_once(superuser):
    wallet = personal_wallet()
    client = staff_client(superuser)
    data = {"kind": "grant", "amount": "5", "reason": "Welcome credit", "nonce": "same"}

    client.post(url(wallet), data)
    client.post(url(wallet), data)  # the browser resubmitted

    assert staff_entries().count() == 1
    assert reload(wallet).balance_microcredits == 5 * CREDIT
    assert AuditEvent.objects.filter(action="billing.grant").count() == 1


@pytest.mark.parametrize(
    "data, field",
    [
        pytest.param({"kind": "grant", "amount": "5", "reason": ""}, "reason", id="no reason"),
        pytest.param({"kind": "grant", "amount": "5", "reason": "   "}, "reason", id="blank"),
        pytest.param({"kind": "grant", "amount": "-5", "reason": "x"}, "amount", id="neg grant"),
        pytest.param({"kind": "adjustment", "amount": "0", "reason": "x"}, "amount", id="zero"),
        pytest.param({"kind": "grant", "amount": "1.0000001", "reason": "x"}, "amount", id="µ"),
        pytest.param({"kind": "topup", "amount": "5", "reason": "x"}, "kind", id="kind"),
    ],
)
def test_a_bad_form_shows_the_error_and_posts_nothing(superuser, data, field):
    wallet = personal_wallet()

    response = staff_client(superuser).post(url(wallet), {**data, "nonce": "n1"})

    assert response.status_code == 200
    assert field in response.context["form"].errors, response.context["form"].errors
    assert not staff_entries().exists()
    assert not AuditEvent.objects.filter(action__startswith="billing.").exists()
    assert reload(wallet).balance_microcredits == 0


def test_a_signed_in_customer_is_sent_to_the_admin_login(user):
    wallet = personal_wallet(user=user)
    client = staff_client(user)

    response = client.post(
        url(wallet), {"kind": "grant", "amount": "1000", "reason": "me", "nonce": "n1"}
    )

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not staff_entries().exists()
    assert reload(wallet).balance_microcredits == 0


def test_staff_without_the_ledger_permission_are_refused():
    clerk = User.objects.create_user(
        email="clerk@hypereal.example", password="long-passphrase", is_staff=True
    )
    wallet = personal_wallet()
    client = staff_client(clerk)

    assert client.get(url(wallet)).status_code == 403
    response = client.post(
        url(wallet), {"kind": "grant", "amount": "1000", "reason": "me", "nonce": "n1"}
    )

    assert response.status_code == 403
    assert not staff_entries().exists()
