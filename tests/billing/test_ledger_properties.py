"""Properties of the ledger under any sequence of operations (hypothesis, stateful).

A model of the wallet is kept in plain Python next to the real one; after every step
``balance == sum(entries) == model``, ``held == sum(open holds) == model``, every entry's
``balance_after`` chains from the one before, and replays never change anything.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from billing import ledger
from billing.ledger import HoldResolved, IdempotencyConflict, InsufficientCredits
from billing.models import Hold, LedgerEntry
from billing.selectors import ledger_mismatches
from hypereal_site.api.errors import ApplicationError

from .factories import CREDIT, new_key, personal_wallet
from .factories import fresh as reload

amounts = st.integers(min_value=1, max_value=50 * CREDIT)


class LedgerMachine(RuleBasedStateMachine):
    movements = Bundle("movements")  # (key, amount, kind) that were posted
    open_holds = Bundle("open_holds")
    resolved_holds = Bundle("resolved_holds")

    @initialize()
    def a_new_wallet(self) -> None:
        self.wallet = personal_wallet()
        self.balance = 0
        self.held = 0
        self.entries = 0
        self.model_holds: dict[int, int] = {}  # open hold pk → amount

    # --- helpers ---------------------------------------------------------------------------

    @property
    def available(self) -> int:
        return self.balance - self.held

    def _post(self, amount: int, kind: str, *, allow_negative: bool = True):
        key = new_key(kind)
        entry = ledger.ledger_post(
            wallet=self.wallet,
            amount_microcredits=amount,
            kind=kind,
            idempotency_key=key,
            allow_negative=allow_negative,
        )
        self.balance += amount
        self.entries += 1
        assert entry.balance_after_microcredits == self.balance
        return key, amount, kind

    def _snapshot(self) -> tuple:
        w = reload(self.wallet)
        return (
            w.balance_microcredits,
            w.held_microcredits,
            LedgerEntry.objects.filter(wallet=w).count(),
            list(Hold.objects.filter(wallet=w).order_by("pk").values_list("pk", "status")),
        )

    # --- money in and out -----------------------------------------------------------------

    @rule(target=movements, amount=amounts)
    def credit(self, amount):
        return self._post(amount, LedgerEntry.Kind.TOPUP)

    @rule(target=movements, amount=amounts)
    def usage_debit(self, amount):
        # Usage that already happened is recorded even if it overdraws the wallet.
        return self._post(-amount, LedgerEntry.Kind.USAGE)

    @rule(amount=amounts)
    def guarded_debit(self, amount):
        if amount <= self.available:
            self._post(-amount, LedgerEntry.Kind.USAGE, allow_negative=False)
            return
        before = self._snapshot()
        with pytest.raises(InsufficientCredits):
            self._post(-amount, LedgerEntry.Kind.USAGE, allow_negative=False)
        assert self._snapshot() == before

    @rule(movement=movements)
    def replay(self, movement):
        key, amount, kind = movement
        before = self._snapshot()
        entry = ledger.ledger_post(
            wallet=self.wallet, amount_microcredits=amount, kind=kind, idempotency_key=key
        )
        assert entry.idempotency_key == key and entry.amount_microcredits == amount
        assert self._snapshot() == before

    @rule(movement=movements, delta=st.integers(min_value=1, max_value=CREDIT))
    def replay_with_another_amount(self, movement, delta):
        key, amount, kind = movement
        before = self._snapshot()
        with pytest.raises(IdempotencyConflict):
            ledger.ledger_post(
                wallet=self.wallet,
                amount_microcredits=amount + delta,
                kind=kind,
                idempotency_key=key,
            )
        assert self._snapshot() == before

    # --- holds ----------------------------------------------------------------------------

    @rule(target=open_holds, amount=amounts)
    def place_hold(self, amount):
        reference = new_key("job")
        if amount > self.available:
            before = self._snapshot()
            with pytest.raises(InsufficientCredits):
                ledger.hold_place(
                    wallet=self.wallet, amount_microcredits=amount, reference=reference
                )
            assert self._snapshot() == before
            return multiple()  # no hold to remember
        hold, created = ledger.hold_place(
            wallet=self.wallet, amount_microcredits=amount, reference=reference
        )
        assert created
        self.held += amount
        self.model_holds[hold.pk] = amount
        return hold

    @rule(hold=open_holds)
    def replay_hold(self, hold):
        before = self._snapshot()
        again, created = ledger.hold_place(
            wallet=self.wallet,
            amount_microcredits=hold.amount_microcredits,
            reference=hold.reference,
        )
        assert again.pk == hold.pk and not created
        assert self._snapshot() == before

    @rule(target=resolved_holds, hold=consumes(open_holds), data=st.data())
    def capture(self, hold, data):
        amount = data.draw(st.integers(min_value=0, max_value=hold.amount_microcredits))
        ledger.hold_capture(hold=hold, amount_microcredits=amount)
        self.held -= hold.amount_microcredits
        self.balance -= amount
        self.entries += 1 if amount else 0
        del self.model_holds[hold.pk]
        return hold

    @rule(hold=open_holds, extra=st.integers(min_value=1, max_value=CREDIT))
    def capture_too_much(self, hold, extra):
        before = self._snapshot()
        with pytest.raises(ApplicationError):
            ledger.hold_capture(hold=hold, amount_microcredits=hold.amount_microcredits + extra)
        assert self._snapshot() == before

    @rule(target=resolved_holds, hold=consumes(open_holds))
    def release(self, hold):
        ledger.hold_release(hold=hold)
        self.held -= hold.amount_microcredits
        del self.model_holds[hold.pk]
        return hold

    @rule(target=resolved_holds, hold=consumes(open_holds))
    def expire(self, hold):
        Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        assert ledger.holds_expire_due() == 1
        self.held -= hold.amount_microcredits
        del self.model_holds[hold.pk]
        return hold

    @rule(hold=resolved_holds, capture=st.booleans())
    def resolve_again(self, hold, capture):
        before = self._snapshot()
        with pytest.raises(HoldResolved):
            if capture:
                ledger.hold_capture(hold=hold, amount_microcredits=0)
            else:
                ledger.hold_release(hold=hold)
        assert self._snapshot() == before

    # --- what must always hold ------------------------------------------------------------

    @invariant()
    def balances_match_the_model_and_the_rows(self):
        if not hasattr(self, "wallet"):
            return
        wallet = reload(self.wallet)
        entries = list(
            LedgerEntry.objects.filter(wallet=wallet)
            .order_by("pk")
            .values_list("amount_microcredits", "balance_after_microcredits")
        )
        assert wallet.balance_microcredits == self.balance == sum(a for a, _ in entries)
        assert len(entries) == self.entries
        running = 0
        for amount, after in entries:
            running += amount
            assert after == running
        open_amounts = Hold.objects.filter(wallet=wallet, status=Hold.Status.OPEN).values_list(
            "pk", "amount_microcredits"
        )
        assert dict(open_amounts) == self.model_holds
        assert wallet.held_microcredits == self.held == sum(self.model_holds.values())
        assert wallet.held_microcredits >= 0


@pytest.mark.django_db
def test_any_sequence_of_operations_keeps_the_ledger_consistent():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert ledger_mismatches() == []
