"""Pre-aggregated usage: hourly UTC buckets kept in step with the raw events.

Three shapes of the same buckets (``SHAPES``): by model (no key), by key (no model), and
by every dimension. Each row of a shape holds exactly the raw events of its bucket whose
``recorded_at`` is before the watermark (``UsageRollupState.watermark``); every read adds
the raw events recorded at or after it (``selectors``), so pages are real time.

``rollup_refresh`` (the beat task) moves the watermark forward:

* one worker at a time: a PostgreSQL transaction-level advisory lock, tried, never waited
  for (a second worker finds it taken and skips its turn); SQLite has one writer anyway;
* the new watermark is ``now - USAGE_ROLLUP_SETTLE_SECONDS``: an ingestion transaction
  stamps ``recorded_at`` before it commits, so the watermark stays a little behind the
  clock to leave batches in flight time to commit;
* the buckets to recompute are those holding an event recorded from ``old watermark -
  USAGE_ROLLUP_OVERLAP_SECONDS`` up to the new one: the watermark is on the time an event
  was *recorded*, not when it occurred, so an event reported 89 days late still lands in
  its (old) bucket; the overlap re-reads a margin before the old watermark, catching an
  event whose transaction committed after the previous run had passed its ``recorded_at``;
* each such bucket is recomputed whole from the raw rows (``recorded_at`` before the new
  watermark) and its rows replaced (delete, then ``INSERT … SELECT … ON CONFLICT DO
  UPDATE`` to the recomputed values): running it twice changes nothing.

``rollup_rebuild`` recomputes every bucket of a range the same way (``usage_rollup
--rebuild``), ``rollup_check`` compares every bucket of a range with the raw rows
(``usage_check``), ``rollup_prune`` drops buckets older than
``USAGE_ROLLUP_RETENTION_DAYS``.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models.functions import TruncHour
from django.utils import timezone

from .models import (
    UsageEvent,
    UsageRollup,
    UsageRollupHourModel,
    UsageRollupKey,
    UsageRollupModel,
    UsageRollupState,
)

#: Before any rollup exists every event is in the raw tail.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
#: A constant key of ``pg_advisory_xact_lock`` (any 64-bit number unique to this task).
LOCK_KEY = 0x75736167_65726F6C  # "usagerol"
SUMS = ("input_tokens", "output_tokens", "images", "seconds", "clips", "requests")
#: How many hour ranges one recomputing statement names (late events can touch many).
RANGES_PER_STATEMENT = 200


@dataclass(frozen=True)
class Shape:
    model: type[models.Model]
    dims: tuple[str, ...]  # columns besides organization, hour and status class
    status: bool = True  # has a status class column

    @property
    def key(self) -> list[str]:
        """The bucket's identity (the unique constraint's columns)."""
        return ["organization_id", "hour", *self.dims, *(["status_class"] if self.status else [])]

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def name(self) -> str:
        return self.model.__name__


SHAPE_HOUR_MODEL = Shape(UsageRollupHourModel, ("model",), status=False)
SHAPE_MODEL = Shape(UsageRollupModel, ("model", "endpoint"))
SHAPE_KEY = Shape(UsageRollupKey, ("key_id",))
SHAPE_FULL = Shape(UsageRollup, ("key_id", "model", "endpoint"))
SHAPES = (SHAPE_HOUR_MODEL, SHAPE_MODEL, SHAPE_KEY, SHAPE_FULL)

STATUS_CLASS_SQL = (
    "CASE WHEN status_code BETWEEN 200 AND 299 THEN '2xx' "
    "WHEN status_code BETWEEN 400 AND 499 THEN '4xx' "
    "WHEN status_code BETWEEN 500 AND 599 THEN '5xx' ELSE 'other' END"
)


def hour_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_ceil(moment: datetime) -> datetime:
    floor = hour_floor(moment)
    return floor if floor == moment else floor + HOUR


def _hour_sql() -> str:
    if connection.vendor == "postgresql":
        return "date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    return "strftime('%%Y-%%m-%%d %%H:00:00', occurred_at)"  # text, as Django stores times


def _dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _ranges_sql(column: str, ranges: list[tuple[datetime, datetime]]) -> tuple[str, list]:
    sql = " OR ".join([f"({column} >= %s AND {column} < %s)"] * len(ranges))
    params: list = []
    for low, high in ranges:
        params += [_dt(low), _dt(high)]
    return f"({sql})", params


def _raw_aggregate_sql(shape: Shape, where: str) -> str:
    """The shape's buckets computed from the raw rows matching ``where``."""
    groups = "".join(f", {d}" for d in (*shape.dims, *([STATUS_CLASS_SQL] if shape.status else [])))
    sums = ", ".join(f"SUM({name})" for name in (*SUMS, "cost_microcredits"))
    sums += ", MAX(cost_microcredits)"
    table = UsageEvent._meta.db_table
    return (
        f"SELECT organization_id, {_hour_sql()}{groups}, COUNT(*), {sums} "  # noqa: S608 - column names only
        f"FROM {table} WHERE {where} "
        f"GROUP BY organization_id, {_hour_sql()}{groups}"
    )


def _columns(shape: Shape) -> list[str]:
    return [*shape.key, "events", *SUMS, "cost_microcredits", "max_cost_microcredits"]


def _recompute(
    cursor, ranges: list[tuple[datetime, datetime]], watermark: datetime, org_id: int | None
) -> None:
    """Replace the buckets of ``ranges`` (hour-aligned; of one tenant, or all) in every
    shape with what the raw rows recorded before ``watermark`` add up to."""
    for start in range(0, len(ranges), RANGES_PER_STATEMENT):
        chunk = ranges[start : start + RANGES_PER_STATEMENT]
        for shape in SHAPES:
            tenant = "organization_id = %s AND " if org_id is not None else ""
            tenant_params = [org_id] if org_id is not None else []
            hours, hour_params = _ranges_sql("hour", chunk)
            cursor.execute(
                f"DELETE FROM {shape.table} WHERE {tenant}{hours}",  # noqa: S608 - names only
                [*tenant_params, *hour_params],
            )
            occurred, occurred_params = _ranges_sql("occurred_at", chunk)
            columns = _columns(shape)
            key = shape.key
            updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
            cursor.execute(
                f"INSERT INTO {shape.table} ({', '.join(columns)}) "
                + _raw_aggregate_sql(shape, f"{tenant}{occurred} AND recorded_at < %s")
                + f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
                [*tenant_params, *occurred_params, _dt(watermark)],
            )


def _merge(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted hours as the fewest contiguous ``[start, end)`` ranges."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


def _lock(*, wait: bool) -> bool:
    """The rollups' advisory lock for the current transaction (PostgreSQL only)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
        return bool(cursor.fetchone()[0])


def _state() -> UsageRollupState:
    state = UsageRollupState.objects.select_for_update().filter(pk=1).first()
    if state is None:
        state = UsageRollupState.objects.create(pk=1, watermark=EPOCH)
    return state


def rollup_watermark() -> datetime:
    state = UsageRollupState.objects.filter(pk=1).first()
    return state.watermark if state else EPOCH


def rollup_refresh(*, now: datetime | None = None) -> dict:
    """Move the watermark to ``now - settle`` and recompute every bucket touched by an
    event recorded since ``old watermark - overlap``. Returns what it did; ``skipped``
    when another worker holds the lock."""
    now = now or timezone.now()
    with transaction.atomic():
        if not _lock(wait=False):
            return {"skipped": True}
        state = _state()
        old = state.watermark
        new = now - timedelta(seconds=settings.USAGE_ROLLUP_SETTLE_SECONDS)
        if new <= old:
            return {"skipped": False, "watermark": old, "buckets": 0}
        since = max(old - timedelta(seconds=settings.USAGE_ROLLUP_OVERLAP_SECONDS), EPOCH)
        touched = (
            UsageEvent.objects.filter(recorded_at__gte=since, recorded_at__lt=new)
            .annotate(bucket=TruncHour("occurred_at", tzinfo=UTC))
            .values_list("organization_id", "bucket")
            .distinct()
            .order_by()
        )
        by_org: dict[int, list[datetime]] = {}
        for org_id, bucket in touched:
            by_org.setdefault(org_id, []).append(bucket)
        with connection.cursor() as cursor:
            for org_id in sorted(by_org):
                _recompute(cursor, _merge(by_org[org_id]), new, org_id)
        state.watermark = new
        state.updated_at = now
        state.save(update_fields=["watermark", "updated_at"])
    return {
        "skipped": False,
        "watermark": new,
        "buckets": sum(len(hours) for hours in by_org.values()),
    }


def rollup_rebuild(*, start: datetime, end: datetime) -> dict:
    """Recompute every bucket of every tenant from ``start`` (rounded down to its hour) to
    ``end`` (rounded up), at the current watermark. Buckets whose raw rows are gone
    (dropped partitions) are emptied: rebuild only ranges whose raw rows are kept."""
    start, end = hour_floor(start), hour_ceil(end)
    with transaction.atomic():
        _lock(wait=True)
        watermark = _state().watermark
        with connection.cursor() as cursor:
            low = start
            while low < end:  # a week per statement keeps each sort small
                high = min(low + timedelta(days=7), end)
                _recompute(cursor, [(low, high)], watermark, None)
                low = high
    return {"start": start, "end": end, "watermark": watermark}


@dataclass(frozen=True)
class Mismatch:
    shape: str
    side: str  # "raw": the bucket as the raw rows compute it; "rollup": as stored
    row: tuple


def rollup_check(*, start: datetime, end: datetime, limit: int = 50) -> list[Mismatch]:
    """Every bucket of ``[start, end)`` (whole hours) whose stored values differ from the
    raw rows recorded before the watermark, in every shape (at most ``limit`` a shape).
    Both sides come from one statement (one snapshot), under the lock."""
    start, end = hour_floor(start), hour_ceil(end)
    out: list[Mismatch] = []
    with transaction.atomic():
        _lock(wait=True)
        watermark = rollup_watermark()
        with connection.cursor() as cursor:
            for shape in SHAPES:
                raw = _raw_aggregate_sql(
                    shape, "occurred_at >= %s AND occurred_at < %s AND recorded_at < %s"
                )
                stored = (
                    f"SELECT {', '.join(_columns(shape))} FROM {shape.table} "  # noqa: S608 - names only
                    "WHERE hour >= %s AND hour < %s"
                )
                raw_params = [_dt(start), _dt(end), _dt(watermark)]
                stored_params = [_dt(start), _dt(end)]
                cursor.execute(
                    f"SELECT 'raw', d.* FROM ({raw} EXCEPT {stored}) d "  # noqa: S608 - built above
                    f"UNION ALL SELECT 'rollup', e.* FROM ({stored} EXCEPT {raw}) e "
                    f"LIMIT {int(limit)}",
                    [*raw_params, *stored_params, *stored_params, *raw_params],
                )
                out += [Mismatch(shape.name, row[0], tuple(row[1:])) for row in cursor.fetchall()]
    return out


def rollup_prune(*, now: datetime | None = None) -> int:
    """Drop the buckets older than ``USAGE_ROLLUP_RETENTION_DAYS``; returns rows deleted."""
    cutoff = hour_floor(
        (now or timezone.now()) - timedelta(days=settings.USAGE_ROLLUP_RETENTION_DAYS)
    )
    deleted = 0
    with transaction.atomic():
        _lock(wait=True)
        for shape in SHAPES:
            deleted += shape.model.objects.filter(hour__lt=cutoff).delete()[0]
    return deleted
