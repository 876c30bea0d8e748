"""Money under real concurrency: many threads, each with its own database connection,
released together by a barrier onto one hot wallet.

On PostgreSQL the threads really race: the single conditional ``UPDATE … RETURNING`` in
``billing.ledger`` must lose nothing and overdraw nothing. On SQLite the same code runs in
the same threads, but pytest-django's SQLite test database is an in-memory database in
*shared-cache* mode: its table locks fail at once with "database table is locked" instead
of waiting for the busy timeout, so there two transactions may not overlap at all. SQLite
serialises writers anyway; on that backend each thread's operation therefore runs under
one process-wide lock (``factories.run_concurrently``). The assertions are the same on both.
"""

import itertools
import random

import pytest

from billing import ledger
from billing.ledger import InsufficientCredits
from billing.models import Hold, LedgerEntry
from billing.selectors import ledger_mismatches

from .factories import CREDIT, fund, personal_wallet, run_concurrently
from .factories import fresh as reload

pytestmark = pytest.mark.django_db(transaction=True)


def raised(results: list, kind: type[BaseException] = BaseException) -> list:
    return [r for r in results if isinstance(r, kind)]


def test_concurrent_debits_on_one_wallet_lose_nothing():
    wallet = personal_wallet()
    fund(wallet, 1_000 * CREDIT)
    amounts = [(i + 1) * 1_001 for i in range(32)]

    results = run_concurrently(
        lambda i: ledger.ledger_post(
            wallet=wallet,
            amount_microcredits=-amounts[i],
            kind=LedgerEntry.Kind.USAGE,
            idempotency_key=f"debit-{i}",
        ),
        threads=32,
    )

    assert raised(results) == []
    final = reload(wallet)
    assert final.balance_microcredits == 1_000 * CREDIT - sum(amounts)
    entries = LedgerEntry.objects.filter(wallet=wallet, kind=LedgerEntry.Kind.USAGE)
    assert entries.count() == 32
    # Every debit saw a distinct balance: the running balances are a permutation of the
    # prefix sums of some order, and the lowest is the final balance.
    afters = sorted(entries.values_list("balance_after_microcredits", flat=True))
    assert len(set(afters)) == 32
    assert afters[0] == final.balance_microcredits
    assert ledger_mismatches() == []


def test_concurrent_holds_only_take_what_is_available():
    wallet = personal_wallet()
    hold_amount = 3 * CREDIT
    fits = 11
    fund(wallet, fits * hold_amount + hold_amount - 1)  # one short of a twelfth hold

    results = run_concurrently(
        lambda i: ledger.hold_place(
            wallet=wallet, amount_microcredits=hold_amount, reference=f"job-{i}"
        ),
        threads=32,
    )

    refused = raised(results, InsufficientCredits)
    assert raised(results) == refused  # nothing else went wrong
    placed = [r for r in results if isinstance(r, tuple)]
    assert len(placed) == fits and len(refused) == 32 - fits
    assert all(created for _hold, created in placed)
    final = reload(wallet)
    assert final.held_microcredits == fits * hold_amount <= final.balance_microcredits
    assert final.available_microcredits == hold_amount - 1
    assert Hold.objects.filter(wallet=wallet, status=Hold.Status.OPEN).count() == fits
    assert ledger_mismatches() == []


def test_concurrent_replays_of_one_key_move_the_balance_once():
    wallet = personal_wallet()
    fund(wallet, 100 * CREDIT)

    results = run_concurrently(
        lambda i: ledger.ledger_post(
            wallet=wallet,
            amount_microcredits=-7 * CREDIT,
            kind=LedgerEntry.Kind.USAGE,
            idempotency_key="gateway-request-42",
        ),
        threads=16,
    )

    assert raised(results) == []
    assert len({entry.pk for entry in results}) == 1
    assert LedgerEntry.objects.filter(idempotency_key="gateway-request-42").count() == 1
    assert reload(wallet).balance_microcredits == 93 * CREDIT
    assert ledger_mismatches() == []


def test_concurrent_resolutions_of_one_hold_happen_once():
    wallet = personal_wallet()
    fund(wallet, 100 * CREDIT)
    hold, _ = ledger.hold_place(wallet=wallet, amount_microcredits=40 * CREDIT, reference="job")

    def resolve(i: int):
        if i % 2:
            return ledger.hold_release(hold=hold)
        return ledger.hold_capture(hold=hold, amount_microcredits=25 * CREDIT)

    results = run_concurrently(resolve, threads=16)

    succeeded = [r for r in results if isinstance(r, Hold)]
    assert len(succeeded) == 1
    assert len(raised(results, ledger.HoldResolved)) == 15
    final = reload(wallet)
    assert final.held_microcredits == 0
    expected = 75 * CREDIT if succeeded[0].status == Hold.Status.CAPTURED else 100 * CREDIT
    assert final.balance_microcredits == expected
    assert ledger_mismatches() == []


def test_mixed_holds_captures_and_debits_keep_the_ledger_consistent():
    wallet = personal_wallet()
    fund(wallet, 50 * CREDIT)
    threads = 24
    keys = itertools.count()

    def work(i: int) -> list:
        rng = random.Random(i)  # each thread its own reproducible plan
        outcomes = []
        for step in range(6):
            op = rng.choice(["debit", "guarded", "credit", "hold"])
            key = f"mix-{i}-{step}-{next(keys)}"
            amount = rng.randint(1, 5 * CREDIT)
            try:
                if op == "debit":
                    ledger.ledger_post(
                        wallet=wallet,
                        amount_microcredits=-amount,
                        kind="usage",
                        idempotency_key=key,
                    )
                elif op == "guarded":
                    ledger.ledger_post(
                        wallet=wallet,
                        amount_microcredits=-amount,
                        kind="usage",
                        idempotency_key=key,
                        allow_negative=False,
                    )
                elif op == "credit":
                    ledger.ledger_post(
                        wallet=wallet, amount_microcredits=amount, kind="topup", idempotency_key=key
                    )
                else:
                    hold, _ = ledger.hold_place(
                        wallet=wallet, amount_microcredits=amount, reference=key
                    )
                    if rng.random() < 0.6:
                        ledger.hold_capture(hold=hold, amount_microcredits=rng.randint(0, amount))
                    elif rng.random() < 0.5:
                        ledger.hold_release(hold=hold)
                outcomes.append(op)
            except InsufficientCredits:
                outcomes.append("refused")
        return outcomes

    results = run_concurrently(work, threads=threads)

    assert raised(results) == []
    assert ledger_mismatches() == []
    final = reload(wallet)
    open_holds = Hold.objects.filter(wallet=wallet, status=Hold.Status.OPEN)
    assert final.held_microcredits == sum(h.amount_microcredits for h in open_holds)
    assert final.balance_microcredits == sum(
        LedgerEntry.objects.filter(wallet=wallet).values_list("amount_microcredits", flat=True)
    )
    # Holds and guarded debits never pushed availability below zero; usage debits may
    # have, and then every later guarded operation had to be refused.
    assert any(outcome != "refused" for outcomes in results for outcome in outcomes)
