"""Wallets built through the real services, as the product makes them.

A wallet belongs to an organization: a user's personal account (``personal_wallet``) or a
team (``team_wallet``). Money only ever arrives through ``billing.ledger``; ``fund`` posts
a top-up with its own idempotency key, exactly as the Stripe webhook would.
"""

import contextlib
import itertools
import threading
import uuid
from collections.abc import Callable

from django.db import close_old_connections, connection

from accounts.models import User
from billing import ledger
from billing.models import MICROCREDITS_PER_CREDIT, LedgerEntry, Wallet
from orgs import services as org_services
from orgs.models import Membership, Organization
from tests.accounts.factories import UserFactory

CREDIT = MICROCREDITS_PER_CREDIT

_keys = itertools.count(1)


def new_key(prefix: str = "test") -> str:
    """A fresh idempotency key, unique across test runs on a shared database too."""
    return f"{prefix}:{next(_keys)}:{uuid.uuid4().hex[:12]}"


def personal_wallet(*, user: User | None = None) -> Wallet:
    user = user or UserFactory()
    org = org_services.personal_org_get_or_create(user=user)
    return ledger.wallet_get_or_create(organization=org)


def team_wallet(*, owner: User | None = None, name: str = "Acme Inc") -> Wallet:
    owner = owner or UserFactory()
    org = org_services.org_create(actor=owner, name=name)
    return ledger.wallet_get_or_create(organization=org)


def member_join(org: Organization, *, role: str, user: User | None = None) -> User:
    """Put a user in an organization with a role (the invitation flow is tested in
    tests/orgs; here only the resulting membership matters)."""
    user = user or UserFactory()
    Membership.objects.create(organization=org, user=user, role=role)
    return user


def fund(wallet: Wallet, amount_microcredits: int, *, key: str | None = None) -> LedgerEntry:
    return ledger.ledger_post(
        wallet=wallet,
        amount_microcredits=amount_microcredits,
        kind=LedgerEntry.Kind.TOPUP,
        idempotency_key=key or new_key("topup"),
        description="test top-up",
    )


def fresh(wallet: Wallet) -> Wallet:
    return Wallet.objects.get(pk=wallet.pk)


# --- threads ------------------------------------------------------------------------------

_sqlite_lock = threading.Lock()


@contextlib.contextmanager
def _serialised_on_sqlite():
    """pytest-django's SQLite test database is in-memory in shared-cache mode, whose table
    locks fail at once ("database table is locked") instead of waiting for the busy
    timeout. SQLite serialises writers anyway, so there each thread's work runs under one
    process-wide lock; on PostgreSQL the threads really race."""
    if connection.vendor == "sqlite":
        with _sqlite_lock:
            yield
    else:
        yield


def run_concurrently(work: Callable[[int], object], threads: int) -> list:
    """Run ``work(i)`` for i in 0..threads-1, each in its own thread and database
    connection, all released at once by a barrier; return each call's result or the
    exception it raised. Needs ``django_db(transaction=True)``: other connections cannot
    see a test's uncommitted rows."""
    barrier = threading.Barrier(threads)
    results: list = [None] * threads

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            with _serialised_on_sqlite():
                results[i] = work(i)
        except BaseException as exc:  # handed to the test, never swallowed
            results[i] = exc
        finally:
            connection.close()

    workers = [threading.Thread(target=target, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers), "a thread hung"
    close_old_connections()
    return results
