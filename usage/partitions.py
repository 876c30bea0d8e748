"""The monthly partitions of ``usage_usageevent`` on PostgreSQL (docs/architecture.md,
"Usage storage").

One partition per calendar month (UTC), named ``usage_usageevent_yYYYYmMM``, holding
``[first of the month, first of the next)``. No DEFAULT partition exists: a row whose month
has no partition is refused by PostgreSQL, so every writer makes sure its months exist first
(``partitions_ensure_for``; ingestion does, the daily beat task creates months ahead).

A partition is created beside the table and then attached: ``ATTACH PARTITION`` takes only a
SHARE UPDATE EXCLUSIVE lock on the parent, so it waits for no reader or writer (``CREATE
TABLE … PARTITION OF`` would take ACCESS EXCLUSIVE and queue every ingestion behind a long
export). A transaction-level advisory lock serialises concurrent creators of one month.

Every creation runs under ``SET LOCAL lock_timeout`` (``USAGE_PARTITION_LOCK_TIMEOUT_MS``,
2 s by default): the ``ATTACH`` queues behind anything holding a conflicting lock on the
parent (a ``DETACH … CONCURRENTLY`` of the retention run waiting for a long export, a
manual ``ANALYZE``) and the other creators queue behind the advisory lock, so a stuck
creation would otherwise hold every batch that needs a new month. Past the timeout it gives
up with ``PartitionBusy`` (ingestion answers 503; the sender retries the batch, which is
idempotent by request id). Inserts into existing months never wait for any of this: they
take ROW EXCLUSIVE, which conflicts with none of those locks.

On any other database (SQLite in development), or on a plain table, every function here is
a no-op that reports nothing.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import OperationalError, connections, transaction

from .models import UsageEvent

logger = logging.getLogger(__name__)

TABLE = UsageEvent._meta.db_table
NAME = re.compile(rf"^{TABLE}_y(\d{{4}})m(\d{{2}})$")
#: pg_advisory_xact_lock key of partition changes ("usagepar" in ASCII).
LOCK_KEY = 0x7573616765706172

#: Months (year, month) whose partition is known to exist, committed, in this process.
_known: set[tuple[int, int]] = set()
#: Per database alias: True when the table is partitioned (learnt once per process).
_partitioned: dict[str, bool] = {}


#: How long a partition creation waits for a lock before giving up (milliseconds).
LOCK_TIMEOUT_MS = 2000


class PartitionBusy(Exception):
    """A month's partition could not be created within the lock timeout."""


def lock_timeout_ms() -> int:
    return int(getattr(settings, "USAGE_PARTITION_LOCK_TIMEOUT_MS", LOCK_TIMEOUT_MS))


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime  # first instant of the month, UTC
    end: datetime  # first instant of the next month
    attached: bool = True


def month_floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def month_add(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"{TABLE}_y{month.year:04d}m{month.month:02d}"


def _month_of(name: str) -> datetime | None:
    match = NAME.match(name)
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        return None
    return datetime(year, month, 1, tzinfo=UTC)


def is_partitioned(using: str = "default") -> bool:
    """Is ``usage_usageevent`` a partitioned table here (PostgreSQL after migration 0002)?"""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def partitions_list(using: str = "default") -> list[Partition]:
    """The monthly partitions, oldest first; ``attached`` False for a table of ours left
    detached (a retention run interrupted between its detach and its drop). One whose
    concurrent detach was interrupted counts as attached (``partition_detach`` finishes it)."""
    if not is_partitioned(using):
        return []
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.inhrelid IS NOT NULL "
            "FROM pg_class c LEFT JOIN pg_inherits i "
            "ON i.inhrelid = c.oid AND i.inhparent = %s::regclass "
            "WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace "
            "AND c.relname LIKE %s",
            [TABLE, f"{TABLE}\\_y%"],
        )
        rows = cursor.fetchall()
    found = []
    for name, attached in rows:
        month = _month_of(name)
        if month is not None:
            found.append(Partition(name, month, month_add(month, 1), bool(attached)))
    return sorted(found, key=lambda p: p.start)


def _create_month(cursor, month: datetime) -> bool:
    """Create and attach ``month``'s partition unless it exists; True when created. Call
    inside a transaction: it takes the advisory lock first."""
    name = partition_name(month)
    # Bounded waits (module docstring): the advisory lock and the ATTACH's lock alike.
    cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{lock_timeout_ms()}ms"])
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
    cursor.execute(
        "SELECT 1 FROM pg_inherits WHERE inhparent = %s::regclass AND inhrelid = to_regclass(%s)",
        [TABLE, name],
    )
    if cursor.fetchone() is not None:
        return False
    # Same columns, NOT NULL and CHECK constraints (ATTACH requires them); the indexes,
    # primary key and foreign keys come from the parent when it is attached.
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {name} "
        f"(LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)"
    )
    cursor.execute(
        f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES "
        f"FROM ('{month.isoformat()}') TO ('{month_add(month, 1).isoformat()}')"
    )
    logger.info("usage partition %s created", name)
    return True


def _ensure_months(months: list[datetime], using: str) -> list[str]:
    connection = connections[using]
    created = []
    for month in months:
        try:
            with transaction.atomic(using=using), connection.cursor() as cursor:
                if _create_month(cursor, month):
                    created.append(partition_name(month))
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            logger.warning("usage partition %s: lock timeout", partition_name(month))
            raise PartitionBusy(partition_name(month)) from exc
    if not connection.in_atomic_block:  # committed: safe to remember
        _known.update((m.year, m.month) for m in months)
    return created


def usage_partitions_ensure(*, start: datetime, end: datetime, using: str = "default") -> list[str]:
    """Make sure every month from ``start``'s to ``end``'s has its partition (idempotent,
    safe to run concurrently). Returns the names of the partitions created."""
    if not is_partitioned(using):
        return []
    months = []
    month = month_floor(start)
    while month <= end:
        months.append(month)
        month = month_add(month, 1)
    return _ensure_months(months, using)


def partitions_ensure_for(times, *, using: str = "default") -> None:
    """Before writing events at ``times`` (UTC datetimes, as ``parse_event`` makes them):
    create the months that have no partition yet. What this process already knows to exist
    costs no query, so the daily task's months ahead make it free on ingestion's path; a
    month it did not foresee (a beat that did not run) is created here, on demand, so no
    event is refused for it.

    Run it outside the writing transaction: the creation is then committed (and
    remembered) at once and holds no lock while the batch is written."""
    if connections[using].vendor != "postgresql":
        return
    wanted = {(t.year, t.month) for t in times} - _known
    if not wanted:
        return
    connection = connections[using]
    partitioned = _partitioned.get(using)
    if partitioned is None:
        partitioned = is_partitioned(using)
        if not connection.in_atomic_block:
            _partitioned[using] = partitioned
    if not partitioned:
        return
    _ensure_months([datetime(y, m, 1, tzinfo=UTC) for y, m in sorted(wanted)], using)


def partition_detach(partition: Partition, *, using: str = "default") -> None:
    """Detach ``partition`` from the table (nothing when it is detached already).

    Outside a transaction the detach is ``CONCURRENTLY``: it waits for the queries on the
    table to finish instead of locking them out (no DEFAULT partition exists, which that
    requires). Inside one (tests) it is a plain detach. One interrupted half-way is
    finished (``FINALIZE``)."""
    if not partition.attached:
        return
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhdetachpending FROM pg_inherits "
            "WHERE inhparent = %s::regclass AND inhrelid = to_regclass(%s)",
            [TABLE, partition.name],
        )
        row = cursor.fetchone()
        if row is None:
            return
        if row[0]:
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {partition.name} FINALIZE")
        else:
            mode = "" if connection.in_atomic_block else " CONCURRENTLY"
            cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {partition.name}{mode}")
    _known.discard((partition.start.year, partition.start.month))


def partition_drop(partition: Partition, *, using: str = "default") -> int:
    """Count the rows of a detached partition, then drop it; returns the count. Runs in the
    caller's transaction (the retention service audits the drop in the same one)."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partition.name}")  # noqa: S608 - our own name
        (rows,) = cursor.fetchone()
        cursor.execute(f"DROP TABLE {partition.name}")
    _known.discard((partition.start.year, partition.start.month))
    logger.info("usage partition %s dropped (%s rows)", partition.name, rows)
    return rows
