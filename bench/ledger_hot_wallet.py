#!/usr/bin/env python
"""Ledger benchmark: concurrent debits on ONE hot wallet (docs/architecture.md, performance).

Target: zero lost updates, and ``ledger_post`` throughput ≥ 50% of a bare conditional
``UPDATE … RETURNING`` on one row, measured in the same run from the same number of
threads (the machines are noisy; the ratio holds where absolute figures drift).

    .venv/bin/python bench/ledger_hot_wallet.py [--threads 16] [--debits 500] [--rounds 3]

Needs PostgreSQL: ``DATABASE_URL`` (default postgres://postgres@127.0.0.1:5432/hypereal_bench);
the database is created if missing and migrated. Not collected by pytest (testpaths=tests).
"""

import argparse
import io
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django
import psycopg
from django.core.management import call_command
from django.db import connection
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/hypereal_bench"
DEBIT_MICROCREDITS = 1_000  # 0.001 credits: a small LLM call
# The bare baseline: one conditional UPDATE, the physical limit of a hot row.
BARE_UPDATE = (
    "UPDATE billing_wallet SET balance_microcredits = balance_microcredits - 1 "
    "WHERE id = %s AND balance_microcredits - held_microcredits >= -1000000000 "
    "RETURNING balance_microcredits"
)


def ensure_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hypereal_site.settings.dev")
    os.environ.setdefault("DEBUG", "false")  # no per-query logging in the measured loop
    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def run_threads(threads: int, prepare: Callable[[int], object], work: Callable) -> float:
    """Each thread runs ``prepare(i)`` (connect) before the start line, then ``work(i,
    state)``; returns the wall time from the common start to the last thread's end."""
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            state = prepare(i)
            barrier.wait()
            work(i, state)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    workers = [threading.Thread(target=target, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def ledger_round(wallet, *, threads: int, debits: int, run: str) -> float:
    from billing.ledger import ledger_post  # noqa: PLC0415 — needs django.setup()

    def prepare(i: int):
        connection.ensure_connection()

    def work(i: int, _state) -> None:
        for j in range(debits):
            ledger_post(
                wallet=wallet,
                amount_microcredits=-DEBIT_MICROCREDITS,
                kind="usage",
                idempotency_key=f"bench:{run}:{i}:{j}",
                reference="bench",
            )

    return run_threads(threads, prepare, work)


def bare_round(wallet_id: int, *, threads: int, debits: int, url: str) -> float:
    def prepare(i: int):
        return psycopg.connect(url, autocommit=True)

    def work(i: int, conn) -> None:
        with conn:
            for _ in range(debits):
                conn.execute(BARE_UPDATE, [wallet_id]).fetchone()

    return run_threads(threads, prepare, work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--debits", type=int, default=500, help="debits per thread per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if not url.startswith(("postgres://", "postgresql://")):
        print("DATABASE_URL must point at PostgreSQL", file=sys.stderr)
        return 2

    ensure_database(url)
    django_setup(url)

    from billing.ledger import ledger_post, wallet_get_or_create  # noqa: PLC0415 — needs django.setup()
    from billing.models import LedgerEntry, Wallet  # noqa: PLC0415 — needs django.setup()
    from orgs.models import Organization  # noqa: PLC0415 — needs django.setup()

    run = uuid.uuid4().hex[:10]
    per_round = args.threads * args.debits
    hot = wallet_get_or_create(
        organization=Organization.objects.create(name=f"bench {run}", slug=f"bench-{run}")
    )
    bare = wallet_get_or_create(
        organization=Organization.objects.create(name=f"bench {run} bare", slug=f"bench-{run}-b")
    )
    # Far above every threshold: the measured loop is the plain debit path.
    opening = 10**9 * 1_000_000
    ledger_post(
        wallet=hot, amount_microcredits=opening, kind="grant", idempotency_key=f"bench:{run}:open"
    )

    print(
        f"PostgreSQL {connection.pg_version}, {args.threads} threads × {args.debits} debits "
        f"× {args.rounds} rounds on one wallet"
    )
    ledger_rates, bare_rates = [], []
    for r in range(args.rounds):
        # Alternate the two so that drift on a noisy machine hits both alike.
        seconds = bare_round(bare.pk, threads=args.threads, debits=args.debits, url=url)
        bare_rates.append(per_round / seconds)
        seconds = ledger_round(hot, threads=args.threads, debits=args.debits, run=f"{run}:{r}")
        ledger_rates.append(per_round / seconds)
        print(
            f"  round {r + 1}: bare UPDATE {bare_rates[-1]:8.0f}/s   ledger_post "
            f"{ledger_rates[-1]:8.0f}/s"
        )

    # Lost updates: every debit must be in the balance and in exactly one entry.
    total = per_round * args.rounds
    hot.refresh_from_db()
    bare.refresh_from_db()
    entries = LedgerEntry.objects.filter(wallet=hot, kind="usage").count()
    lost_ledger = (opening - total * DEBIT_MICROCREDITS) - hot.balance_microcredits
    lost_bare = -total - bare.balance_microcredits
    # The bare baseline moved a wallet behind the ledger's back; put it back so that
    # ledger_check below checks the ledger, not the baseline.
    Wallet.objects.filter(pk=bare.pk).update(balance_microcredits=0)
    try:
        call_command("ledger_check", stdout=io.StringIO())
        check = "clean"
    except Exception as exc:  # CommandError: mismatches were printed on stderr
        check = f"FAILED ({exc})"

    ledger_rate, bare_rate = statistics.median(ledger_rates), statistics.median(bare_rates)
    ratio = ledger_rate / bare_rate
    print()
    print(f"ledger_post debits/s (median)        {ledger_rate:10.0f}")
    print(f"bare conditional UPDATE/s (median)   {bare_rate:10.0f}")
    print(f"ratio                                {ratio:10.1%}   (target ≥ 50%)")
    print(f"ledger: {entries}/{total} entries, lost updates {lost_ledger // DEBIT_MICROCREDITS}")
    print(f"bare:   lost updates {lost_bare}")
    print(f"ledger_check: {check}")
    ok = entries == total and lost_ledger == 0 and lost_bare == 0 and check == "clean"
    verdict = "ok" if ratio >= 0.5 else "correct, throughput BELOW TARGET"
    print("RESULT:", verdict if ok else "FAILED: lost updates or ledger mismatch")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
