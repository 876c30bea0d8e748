"""Holds: credits reserved at submit, captured (≤ the reservation), released or expired,
exactly once (docs/architecture.md, GPU jobs)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from billing import ledger, tasks
from billing.ledger import HoldResolved, InsufficientCredits
from billing.models import Hold, LedgerEntry
from billing.selectors import ledger_mismatches, wallet_open_holds
from hypereal_site.api.errors import ApplicationError

from .factories import CREDIT, fund, personal_wallet
from .factories import fresh as reload

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallet():
    wallet = personal_wallet()
    fund(wallet, 100 * CREDIT)
    return wallet


def place(wallet, amount, reference="job-1", **kwargs):
    return ledger.hold_place(
        wallet=wallet, amount_microcredits=amount, reference=reference, **kwargs
    )


def state(wallet) -> tuple[int, int, int]:
    w = reload(wallet)
    return w.balance_microcredits, w.held_microcredits, w.entries.count()


def test_placing_a_hold_lowers_what_is_available_not_the_balance(wallet):
    hold, created = place(wallet, 30 * CREDIT, expires_in_seconds=600)

    assert created
    assert hold.status == Hold.Status.OPEN
    assert hold.amount_microcredits == 30 * CREDIT
    assert timedelta(seconds=590) < hold.expires_at - timezone.now() <= timedelta(seconds=600)
    assert state(wallet) == (100 * CREDIT, 30 * CREDIT, 1)
    assert reload(wallet).available_microcredits == 70 * CREDIT
    assert list(wallet_open_holds(wallet=wallet)) == [hold]
    assert ledger_mismatches() == []


def test_capturing_less_than_held_charges_only_what_was_used(wallet):
    hold, _ = place(wallet, 30 * CREDIT)

    captured = ledger.hold_capture(hold=hold, amount_microcredits=12 * CREDIT)

    assert captured.status == Hold.Status.CAPTURED
    assert captured.captured_microcredits == 12 * CREDIT
    assert captured.resolved_at is not None
    assert state(wallet) == (88 * CREDIT, 0, 2)
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.HOLD_CAPTURE)
    assert entry.wallet_id == wallet.pk
    assert entry.amount_microcredits == -12 * CREDIT
    assert entry.balance_after_microcredits == 88 * CREDIT
    assert entry.reference == "job-1"
    assert ledger_mismatches() == []


def test_capturing_the_whole_hold(wallet):
    hold, _ = place(wallet, 30 * CREDIT)

    ledger.hold_capture(hold=hold, amount_microcredits=30 * CREDIT)

    assert state(wallet) == (70 * CREDIT, 0, 2)


def test_capturing_nothing_releases_without_an_entry(wallet):
    hold, _ = place(wallet, 30 * CREDIT)

    captured = ledger.hold_capture(hold=hold, amount_microcredits=0)

    assert captured.status == Hold.Status.CAPTURED
    assert state(wallet) == (100 * CREDIT, 0, 1)


@pytest.mark.parametrize("amount", [30 * CREDIT + 1, -1])
def test_capturing_outside_the_hold_is_refused_and_changes_nothing(wallet, amount):
    hold, _ = place(wallet, 30 * CREDIT)

    with pytest.raises(ApplicationError) as exc:
        ledger.hold_capture(hold=hold, amount_microcredits=amount)

    assert exc.value.type == "invalid_amount"
    assert state(wallet) == (100 * CREDIT, 30 * CREDIT, 1)
    assert Hold.objects.get(pk=hold.pk).status == Hold.Status.OPEN
    # It is still open, so the right capture goes through.
    ledger.hold_capture(hold=hold, amount_microcredits=30 * CREDIT)
    assert state(wallet) == (70 * CREDIT, 0, 2)


def test_releasing_gives_the_reservation_back(wallet):
    hold, _ = place(wallet, 30 * CREDIT)

    released = ledger.hold_release(hold=hold)

    assert released.status == Hold.Status.RELEASED
    assert released.captured_microcredits == 0
    assert state(wallet) == (100 * CREDIT, 0, 1)
    assert ledger_mismatches() == []


@pytest.mark.parametrize(
    "first, second",
    [
        ("capture", "capture"),
        ("capture", "release"),
        ("release", "release"),
        ("release", "capture"),
    ],
)
def test_a_hold_resolves_exactly_once(wallet, first, second):
    hold, _ = place(wallet, 30 * CREDIT)

    def resolve(how):
        if how == "capture":
            return ledger.hold_capture(hold=hold, amount_microcredits=10 * CREDIT)
        return ledger.hold_release(hold=hold)

    resolve(first)
    after_first = state(wallet)

    with pytest.raises(HoldResolved) as exc:
        resolve(second)

    assert exc.value.status == 409
    assert state(wallet) == after_first
    expected = Hold.Status.CAPTURED if first == "capture" else Hold.Status.RELEASED
    assert Hold.objects.get(pk=hold.pk).status == expected


def test_the_same_reference_returns_the_same_hold(wallet):
    hold, created = place(wallet, 30 * CREDIT, reference="job-7")

    again, created_again = place(wallet, 30 * CREDIT, reference="job-7")

    assert created and not created_again
    assert again.pk == hold.pk
    assert state(wallet) == (100 * CREDIT, 30 * CREDIT, 1)


def test_the_same_reference_with_another_amount_is_a_conflict(wallet):
    place(wallet, 30 * CREDIT, reference="job-7")

    with pytest.raises(ApplicationError) as exc:
        place(wallet, 31 * CREDIT, reference="job-7")

    assert exc.value.status == 409
    assert exc.value.type == "idempotency_conflict"
    assert state(wallet) == (100 * CREDIT, 30 * CREDIT, 1)
    assert Hold.objects.count() == 1


def test_the_same_reference_on_another_wallet_is_another_hold(wallet):
    other = personal_wallet()
    fund(other, 5 * CREDIT)
    place(wallet, 3 * CREDIT, reference="job-7")

    hold, created = place(other, 3 * CREDIT, reference="job-7")

    assert created and hold.wallet_id == other.pk
    assert state(other) == (5 * CREDIT, 3 * CREDIT, 1)


def test_a_hold_may_not_exceed_what_is_available(wallet):
    place(wallet, 60 * CREDIT, reference="job-1")

    with pytest.raises(InsufficientCredits) as exc:
        place(wallet, 40 * CREDIT + 1, reference="job-2")

    assert exc.value.status == 402
    assert exc.value.extra["available_microcredits"] == 40 * CREDIT
    assert not Hold.objects.filter(reference="job-2").exists()
    assert state(wallet) == (100 * CREDIT, 60 * CREDIT, 1)
    place(wallet, 40 * CREDIT, reference="job-2")  # exactly what is left is fine
    assert reload(wallet).available_microcredits == 0


def test_an_overdrawn_wallet_cannot_hold_anything():
    wallet = personal_wallet()
    ledger.ledger_post(
        wallet=wallet, amount_microcredits=-1, kind="usage", idempotency_key="overdraw"
    )

    with pytest.raises(InsufficientCredits):
        place(wallet, 1)

    assert Hold.objects.count() == 0


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"amount_microcredits": 0}, "invalid_amount"),
        ({"amount_microcredits": -5}, "invalid_amount"),
        ({"reference": ""}, "invalid_reference"),
        ({"expires_in_seconds": 0}, "invalid_expiry"),
        ({"expires_in_seconds": 7 * 24 * 3600 + 1}, "invalid_expiry"),
    ],
)
def test_bad_hold_requests_are_refused(wallet, kwargs, error):
    args = {"amount_microcredits": CREDIT, "reference": "job-1", **kwargs}

    with pytest.raises(ApplicationError) as exc:
        ledger.hold_place(wallet=wallet, **args)

    assert exc.value.type == error
    assert Hold.objects.count() == 0
    assert state(wallet) == (100 * CREDIT, 0, 1)


def _expire(hold: Hold) -> None:
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_expiry_releases_only_open_holds_past_their_time(wallet):
    due, _ = place(wallet, 10 * CREDIT, reference="due")
    place(wallet, 20 * CREDIT, reference="not-yet")
    captured, _ = place(wallet, 5 * CREDIT, reference="captured")
    released, _ = place(wallet, 7 * CREDIT, reference="released")
    ledger.hold_capture(hold=captured, amount_microcredits=4 * CREDIT)
    ledger.hold_release(hold=released)
    for hold in (due, captured, released):
        _expire(hold)

    assert ledger.holds_expire_due() == 1

    statuses = dict(Hold.objects.values_list("reference", "status"))
    assert statuses == {
        "due": "expired",
        "not-yet": "open",
        "captured": "captured",
        "released": "released",
    }
    assert state(wallet) == (96 * CREDIT, 20 * CREDIT, 2)
    assert ledger.holds_expire_due() == 0  # running again changes nothing
    assert state(wallet) == (96 * CREDIT, 20 * CREDIT, 2)
    with pytest.raises(HoldResolved):
        ledger.hold_capture(hold=due, amount_microcredits=CREDIT)
    assert ledger_mismatches() == []


def test_the_beat_task_expires_due_holds(wallet):
    due, _ = place(wallet, 10 * CREDIT, reference="due")
    place(wallet, 20 * CREDIT, reference="not-yet")
    _expire(due)

    result = tasks.expire_holds.delay()

    assert result.get() == 1
    assert Hold.objects.get(pk=due.pk).status == Hold.Status.EXPIRED
    assert state(wallet) == (100 * CREDIT, 20 * CREDIT, 1)


def test_expiry_is_scheduled_on_beat():
    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "billing.tasks.expire_holds" in tasks_scheduled


def test_a_hold_past_its_expiry_cannot_be_captured_even_before_the_sweep(wallet):
    hold, _ = place(wallet, 10 * CREDIT, reference="late")
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    before = state(wallet)
    with pytest.raises(ledger.HoldExpired) as raised:
        ledger.hold_capture(hold=hold, amount_microcredits=5 * CREDIT)
    assert raised.value.status == 409
    assert state(wallet) == before  # nothing charged, still held until the sweep
    assert tasks.expire_holds() == 1
    assert Hold.objects.get(pk=hold.pk).status == Hold.Status.EXPIRED
    balance, held, entries = before
    assert state(wallet) == (balance, held - 10 * CREDIT, entries)  # released, not charged
