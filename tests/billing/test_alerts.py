"""The low-balance alert: one email each time the balance drops below the owner's
threshold, to the people who handle money, never twice for the same drop."""

import pytest
from django.core import mail

from billing import ledger, tasks
from billing.models import LedgerEntry, Wallet
from billing.services import wallet_set_low_balance_threshold
from orgs.permissions import Role

from .factories import (
    CREDIT,
    fund,
    member_join,
    new_key,
    personal_wallet,
    run_concurrently,
    team_wallet,
)
from .factories import fresh as reload

pytestmark = pytest.mark.django_db


def debit(wallet: Wallet, credits: int) -> LedgerEntry:
    return ledger.ledger_post(
        wallet=wallet,
        amount_microcredits=-credits * CREDIT,
        kind=LedgerEntry.Kind.USAGE,
        idempotency_key=new_key("usage"),
    )


def set_threshold(wallet: Wallet, credits: int | None) -> Wallet:
    org = wallet.organization
    owner = org.personal_for or org.memberships.filter(role=Role.OWNER).first().user
    return wallet_set_low_balance_threshold(
        wallet=wallet,
        actor=owner,
        threshold_microcredits=None if credits is None else credits * CREDIT,
    )


@pytest.fixture
def personal(db):
    wallet = personal_wallet()
    fund(wallet, 100 * CREDIT)
    return set_threshold(wallet, 20)


def test_crossing_the_threshold_emails_the_personal_owner_once(
    personal, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        debit(personal, 79)  # 21 left: still above
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        debit(personal, 2)  # 19 left: crossed

    assert len(_alerts(callbacks)) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [personal.organization.personal_for.email]
    assert message.subject == "[Hypereal] Low balance: 19.00 credits left"
    assert "below your alert threshold of 20.00 credits" in message.body
    assert "/billing" in message.body

    for credits in (5, 50):  # overdrawn now, still the same drop
        with django_capture_on_commit_callbacks(execute=True):
            debit(personal, credits)
    assert len(mail.outbox) == 1


def test_an_organization_alert_goes_to_owners_and_billing_members_only(
    django_capture_on_commit_callbacks,
):
    wallet = team_wallet(name="Acme Inc")
    org = wallet.organization
    co_owner = member_join(org, role=Role.OWNER)
    finance = member_join(org, role=Role.BILLING)
    for role in (Role.ADMIN, Role.DEVELOPER, Role.VIEWER):
        member_join(org, role=role)
    owner = org.memberships.filter(role=Role.OWNER).order_by("pk").first().user
    fund(wallet, 50 * CREDIT)
    wallet = set_threshold(wallet, 10)

    with django_capture_on_commit_callbacks(execute=True):
        debit(wallet, 45)

    assert len(mail.outbox) == 1
    assert sorted(mail.outbox[0].to) == sorted([owner.email, co_owner.email, finance.email])
    assert mail.outbox[0].subject == "[Hypereal] Low balance: 5.00 credits left in Acme Inc"


def test_recovering_and_dropping_again_sends_a_second_email(
    personal, django_capture_on_commit_callbacks
):
    # One capture block per movement: each is its own transaction, committed before the
    # next one starts, exactly as in production.
    with django_capture_on_commit_callbacks(execute=True):
        debit(personal, 90)  # 10 left
    with django_capture_on_commit_callbacks(execute=True):
        fund(personal, 15 * CREDIT)  # 25: recovered above the threshold
    with django_capture_on_commit_callbacks(execute=True):
        debit(personal, 4)  # 21: above, nothing to say
    assert len(mail.outbox) == 1

    with django_capture_on_commit_callbacks(execute=True):
        debit(personal, 3)  # 18: the second drop

    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "[Hypereal] Low balance: 18.00 credits left"
    assert reload(personal).low_balance_alert_count == 2


def test_landing_exactly_on_the_threshold_is_not_below_it(
    personal, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        debit(personal, 80)

    assert mail.outbox == []


def test_a_captured_hold_can_cross_the_threshold_too(personal, django_capture_on_commit_callbacks):
    hold, _ = ledger.hold_place(wallet=personal, amount_microcredits=90 * CREDIT, reference="gpu")
    assert mail.outbox == []  # a reservation is not spending

    with django_capture_on_commit_callbacks(execute=True):
        ledger.hold_capture(hold=hold, amount_microcredits=85 * CREDIT)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "[Hypereal] Low balance: 15.00 credits left"


def test_a_retried_task_sends_once(personal, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        debit(personal, 85)
    assert len(_alerts(callbacks)) == 1 and mail.outbox == []

    assert tasks.send_low_balance_email(personal.pk) is True
    assert tasks.send_low_balance_email(personal.pk) is False  # the broker redelivered it
    for callback in callbacks:
        callback()  # and the original queueing ran too

    assert len(mail.outbox) == 1


def test_no_email_once_the_balance_recovered_before_the_task_ran(
    personal, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        debit(personal, 85)
    fund(personal, 50 * CREDIT)

    for callback in callbacks:
        callback()

    assert mail.outbox == []


def test_a_new_threshold_above_the_balance_does_not_email_at_once(
    django_capture_on_commit_callbacks,
):
    wallet = personal_wallet()
    fund(wallet, 10 * CREDIT)

    with django_capture_on_commit_callbacks(execute=True):
        wallet = set_threshold(wallet, 50)
    with django_capture_on_commit_callbacks(execute=True):
        debit(wallet, 1)  # further down, but the owner chose this threshold knowingly
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        fund(wallet, 60 * CREDIT)  # 69: above
    with django_capture_on_commit_callbacks(execute=True):
        debit(wallet, 20)  # 49: a real drop

    assert len(mail.outbox) == 1


def test_no_threshold_no_email(django_capture_on_commit_callbacks):
    wallet = personal_wallet()
    fund(wallet, 10 * CREDIT)
    wallet = set_threshold(wallet, 5)
    wallet = set_threshold(wallet, None)

    with django_capture_on_commit_callbacks(execute=True):
        debit(wallet, 100)

    assert mail.outbox == []


def test_a_wallet_loaded_before_the_threshold_was_set_still_alerts(
    django_capture_on_commit_callbacks,
):
    """Callers may hold a wallet object for a while (a usage batch, a cached lookup); the
    threshold that counts is the one in the database when the money moves."""
    wallet = personal_wallet()
    fund(wallet, 30 * CREDIT)
    set_threshold(Wallet.objects.get(pk=wallet.pk), 20)

    with django_capture_on_commit_callbacks(execute=True):
        debit(wallet, 15)  # ``wallet`` still says "no threshold"

    assert len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_debits_across_the_threshold_send_one_email():
    wallet = personal_wallet()
    fund(wallet, 100 * CREDIT)
    set_threshold(wallet, 50)

    results = run_concurrently(lambda i: debit(wallet, 5), threads=16)  # 100 → 20

    assert not [r for r in results if isinstance(r, BaseException)]
    assert reload(wallet).balance_microcredits == 20 * CREDIT
    assert len(mail.outbox) == 1
    assert reload(wallet).low_balance_alert_count == 1


def _alerts(callbacks) -> list:
    """The on-commit callbacks of the low-balance check (the ledger's other listeners, such
    as the reservation counters' refresh, register their own)."""
    return [c for c in callbacks if "low_balance" in c.__qualname__]
