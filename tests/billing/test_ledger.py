"""The ledger: every movement is one entry, the balance follows it, a retry is a no-op."""

import pytest
from django.db import transaction

from billing import ledger
from billing.ledger import IdempotencyConflict, InsufficientCredits
from billing.models import Hold, LedgerEntry, Wallet
from billing.selectors import ledger_mismatches
from billing.services import wallet_adjust

from .factories import CREDIT, fund, new_key, personal_wallet
from .factories import fresh as reload

pytestmark = pytest.mark.django_db


def post(wallet, amount, *, kind=LedgerEntry.Kind.USAGE, key=None, **kwargs):
    return ledger.ledger_post(
        wallet=wallet,
        amount_microcredits=amount,
        kind=kind,
        idempotency_key=key or new_key(),
        **kwargs,
    )


def snapshot(wallet: Wallet) -> tuple:
    w = reload(wallet)
    return (
        w.balance_microcredits,
        w.held_microcredits,
        LedgerEntry.objects.filter(wallet=w).count(),
        Hold.objects.filter(wallet=w).count(),
    )


# --- posting ----------------------------------------------------------------------------


def test_credits_and_debits_move_the_balance_and_chain_balance_after():
    wallet = personal_wallet()

    topup = fund(wallet, 500 * CREDIT)
    usage = post(wallet, -1_234_567)
    grant = post(wallet, 7, kind=LedgerEntry.Kind.GRANT)

    assert topup.balance_after_microcredits == 500 * CREDIT
    assert usage.balance_after_microcredits == 500 * CREDIT - 1_234_567
    assert grant.balance_after_microcredits == 500 * CREDIT - 1_234_567 + 7
    assert reload(wallet).balance_microcredits == 500 * CREDIT - 1_234_567 + 7
    # The wallet object handed in is brought up to date too.
    assert wallet.balance_microcredits == grant.balance_after_microcredits
    assert usage.kind == "usage" and usage.amount_microcredits == -1_234_567
    assert usage.actor is None and usage.actor_label == "system"
    assert ledger_mismatches() == []


def test_an_actor_is_recorded_by_email():
    wallet = personal_wallet()
    actor = wallet.organization.personal_for

    entry = post(wallet, CREDIT, kind=LedgerEntry.Kind.GRANT, actor=actor)

    assert entry.actor == actor
    assert entry.actor_label == actor.email


def test_every_movement_needs_an_idempotency_key():
    wallet = personal_wallet()

    with pytest.raises(ValueError):
        ledger.ledger_post(wallet=wallet, amount_microcredits=5, kind="topup", idempotency_key="")

    assert snapshot(wallet) == (0, 0, 0, 0)


# --- idempotency ------------------------------------------------------------------------


def test_replaying_a_key_returns_the_first_entry_and_changes_nothing():
    wallet = personal_wallet()
    fund(wallet, 100 * CREDIT)
    first = post(wallet, -3 * CREDIT, key="req-1")
    before = snapshot(wallet)

    again = post(wallet, -3 * CREDIT, key="req-1")
    once_more = post(wallet, -3 * CREDIT, key="req-1", description="a retry")

    assert again.pk == first.pk == once_more.pk
    assert again.balance_after_microcredits == 97 * CREDIT
    assert snapshot(wallet) == before == (97 * CREDIT, 0, 2, 0)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"amount": -4 * CREDIT}, id="different amount"),
        pytest.param({"kind": LedgerEntry.Kind.REFUND}, id="different kind"),
        pytest.param({"other_wallet": True}, id="different wallet"),
    ],
)
def test_a_key_reused_for_a_different_movement_is_a_conflict(change):
    wallet = personal_wallet()
    other = personal_wallet()
    fund(wallet, 100 * CREDIT)
    fund(other, 100 * CREDIT)
    first = post(wallet, -3 * CREDIT, key="req-1")
    before, before_other = snapshot(wallet), snapshot(other)

    with pytest.raises(IdempotencyConflict) as exc:
        post(
            other if change.get("other_wallet") else wallet,
            change.get("amount", -3 * CREDIT),
            kind=change.get("kind", LedgerEntry.Kind.USAGE),
            key="req-1",
        )

    assert exc.value.status == 409
    assert exc.value.type == "idempotency_conflict"
    assert snapshot(wallet) == before
    assert snapshot(other) == before_other
    assert LedgerEntry.objects.get(idempotency_key="req-1").pk == first.pk


# --- how far a balance may fall -----------------------------------------------------------


def test_usage_debits_may_take_the_balance_below_zero():
    """Usage already happened: it is recorded even when it overdraws the wallet."""
    wallet = personal_wallet()
    fund(wallet, 2 * CREDIT)

    entry = post(wallet, -5 * CREDIT)

    assert entry.balance_after_microcredits == -3 * CREDIT
    assert reload(wallet).balance_microcredits == -3 * CREDIT
    assert ledger_mismatches() == []


def test_a_guarded_debit_that_would_overdraw_is_refused_and_writes_nothing():
    wallet = personal_wallet()
    fund(wallet, 2 * CREDIT)
    before = snapshot(wallet)

    with pytest.raises(InsufficientCredits) as exc:
        post(wallet, -2 * CREDIT - 1, allow_negative=False, key="guarded-1")

    assert exc.value.status == 402
    assert exc.value.extra == {
        "available_microcredits": 2 * CREDIT,
        "needed_microcredits": 2 * CREDIT + 1,
    }
    assert snapshot(wallet) == before
    assert not LedgerEntry.objects.filter(idempotency_key="guarded-1").exists()

    # Exactly the available amount is fine, and the same key can then be used.
    entry = post(wallet, -2 * CREDIT, allow_negative=False, key="guarded-1")
    assert entry.balance_after_microcredits == 0


def test_a_guarded_debit_counts_open_holds_against_the_balance():
    wallet = personal_wallet()
    fund(wallet, 10 * CREDIT)
    ledger.hold_place(wallet=wallet, amount_microcredits=7 * CREDIT, reference="job-1")
    before = snapshot(wallet)

    with pytest.raises(InsufficientCredits) as exc:
        post(wallet, -4 * CREDIT, allow_negative=False)

    assert exc.value.extra["available_microcredits"] == 3 * CREDIT
    assert snapshot(wallet) == before
    assert post(wallet, -3 * CREDIT, allow_negative=False).balance_after_microcredits == 7 * CREDIT
    assert reload(wallet).available_microcredits == 0


def test_credits_are_never_refused_even_on_an_overdrawn_wallet():
    wallet = personal_wallet()
    post(wallet, -5 * CREDIT)

    entry = post(wallet, CREDIT, kind=LedgerEntry.Kind.TOPUP, allow_negative=False)

    assert entry.balance_after_microcredits == -4 * CREDIT


# --- durability ---------------------------------------------------------------------------


def test_money_services_refuse_to_run_inside_a_larger_transaction():
    """``durable=True``: nobody can wrap a money movement in a transaction that might
    later roll it back (or hold the hot wallet's row lock for longer)."""
    wallet = personal_wallet()
    fund(wallet, 10 * CREDIT)
    hold, _ = ledger.hold_place(wallet=wallet, amount_microcredits=CREDIT, reference="job-1")
    staff = wallet.organization.personal_for
    before = snapshot(wallet)

    calls = [
        lambda: post(wallet, -CREDIT),
        lambda: ledger.hold_place(wallet=wallet, amount_microcredits=CREDIT, reference="job-2"),
        lambda: ledger.hold_capture(hold=hold, amount_microcredits=1),
        lambda: ledger.hold_release(hold=hold),
        lambda: wallet_adjust(
            wallet=wallet,
            actor=staff,
            amount_microcredits=CREDIT,
            reason="goodwill",
            idempotency_key=new_key(),
        ),
    ]
    for call in calls:
        with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
            call()

    assert snapshot(wallet) == before
    assert Hold.objects.get(pk=hold.pk).status == Hold.Status.OPEN


@pytest.mark.django_db(transaction=True)
def test_the_in_transaction_variant_refuses_to_run_in_autocommit():
    wallet = personal_wallet()

    with pytest.raises(RuntimeError, match="inside a transaction"):
        ledger.ledger_post_in_transaction(
            wallet=wallet, amount_microcredits=5, kind="topup", idempotency_key=new_key()
        )

    assert snapshot(wallet) == (0, 0, 0, 0)


def test_the_in_transaction_variant_rolls_back_with_its_caller():
    wallet = personal_wallet()

    with pytest.raises(ZeroDivisionError), transaction.atomic():
        entry, created = ledger.ledger_post_in_transaction(
            wallet=wallet, amount_microcredits=5, kind="topup", idempotency_key="batch-1"
        )
        assert created and entry.balance_after_microcredits == 5
        1 / 0  # noqa: B018 — the caller fails after posting

    assert snapshot(wallet) == (0, 0, 0, 0)
    assert not LedgerEntry.objects.filter(idempotency_key="batch-1").exists()
