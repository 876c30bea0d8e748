"""Keeping usage storage bounded: partitions ahead, retention, pruning of de-duplication ids.

Three services, each run by a Celery beat task (``usage/tasks.py``) and by
``manage.py usage_partitions``:

- ``usage_partitions_ensure_ahead``: the partitions of every month ingestion may write to,
  from 90 days back (plus a day) to ``USAGE_PARTITIONS_AHEAD_MONTHS`` ahead.
- ``usage_retention_apply``: drops each month all of which is older than
  ``USAGE_RETENTION_DAYS`` — on PostgreSQL whole partitions (detach, drop: never a
  ``DELETE``), elsewhere (SQLite, development) by deleting its rows. Audited per month.
- ``usage_requests_prune``: forgets request ids accepted so long ago that ingestion refuses
  their events by age anyway (``MAX_AGE`` + the allowed future skew + a day), in batches.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.utils import timezone

from accounts.models import User
from orgs.audit import audit_record

from .ingest import MAX_AGE
from .models import UsageEvent, UsageRequest
from .partitions import (
    is_partitioned,
    month_add,
    month_floor,
    partition_detach,
    partition_drop,
    partitions_list,
    usage_partitions_ensure,
)

logger = logging.getLogger(__name__)

#: Beyond MAX_AGE and the future skew, how much longer a request id is kept.
PRUNE_MARGIN = timedelta(days=1)
PRUNE_BATCH = 10_000
DELETE_BATCH = 10_000


@dataclass(frozen=True)
class Dropped:
    month: str  # "2025-09"
    rows: int


def ingest_window_start(now: datetime) -> datetime:
    """The oldest time ingestion may still write, with a day of margin."""
    return now - MAX_AGE - timedelta(days=1)


def usage_partitions_ensure_ahead(*, now: datetime | None = None, using: str = "default"):
    """Create the partitions of ingestion's window and the months ahead; the names created."""
    now = now or timezone.now()
    end = month_add(month_floor(now), settings.USAGE_PARTITIONS_AHEAD_MONTHS)
    return usage_partitions_ensure(start=ingest_window_start(now), end=end, using=using)


def retention_boundary(now: datetime) -> datetime:
    """Events before this instant (a first of the month, UTC) are past retention: every
    month that ends on or before ``now - USAGE_RETENTION_DAYS``."""
    days = settings.USAGE_RETENTION_DAYS
    if timedelta(days=days) <= MAX_AGE + PRUNE_MARGIN:
        # Ingestion would write into months retention drops, and re-create them.
        raise ImproperlyConfigured(
            f"USAGE_RETENTION_DAYS must exceed {(MAX_AGE + PRUNE_MARGIN).days} days."
        )
    return month_floor(now - timedelta(days=days))


def usage_retention_apply(
    *, actor: User | None = None, now: datetime | None = None, using: str = "default"
) -> list[Dropped]:
    """Drop the months past ``USAGE_RETENTION_DAYS``; each drop is audited (a platform
    event, no organization) as ``usage.expired`` with the month and its row count."""
    now = now or timezone.now()
    boundary = retention_boundary(now)
    dropped: list[Dropped] = []
    if is_partitioned(using):
        for partition in partitions_list(using):
            if partition.end > boundary:
                continue
            partition_detach(partition, using=using)  # concurrently, outside a transaction
            with transaction.atomic(using=using):
                rows = partition_drop(partition, using=using)
                month = partition.start.strftime("%Y-%m")
                _audit_expired(actor=actor, month=month, rows=rows, before=partition.end)
            dropped.append(Dropped(month, rows))
        return dropped
    if connections[using].vendor == "postgresql":
        logger.warning("usage_usageevent is not partitioned: retention deletes rows")
    # One plain table (SQLite in development): delete the rows, month by month.
    oldest = UsageEvent.objects.using(using).order_by("occurred_at").first()
    if oldest is None or oldest.occurred_at >= boundary:
        return dropped
    month = month_floor(oldest.occurred_at)
    while month < boundary:
        end = month_add(month, 1)
        rows = 0
        with transaction.atomic(using=using):
            while True:
                ids = (
                    UsageEvent.objects.using(using)
                    .filter(occurred_at__gte=month, occurred_at__lt=end)
                    .values_list("pk", flat=True)[:DELETE_BATCH]
                )
                deleted, _by_model = (
                    UsageEvent.objects.using(using).filter(pk__in=list(ids)).delete()
                )
                rows += deleted
                if deleted < DELETE_BATCH:
                    break
            if rows:
                _audit_expired(actor=actor, month=month.strftime("%Y-%m"), rows=rows, before=end)
        if rows:
            dropped.append(Dropped(month.strftime("%Y-%m"), rows))
        month = end
    return dropped


def _audit_expired(*, actor: User | None, month: str, rows: int, before: datetime) -> None:
    logger.info("usage of %s past retention deleted: %s rows", month, rows)
    audit_record(
        organization=None,
        actor=actor,
        action="usage.expired",
        after={
            "month": month,
            "rows": rows,
            "retention_days": settings.USAGE_RETENTION_DAYS,
        },
    )


def prune_cutoff(now: datetime) -> datetime:
    """Request ids accepted before this are forgotten. An event accepted at ``a`` occurred
    at most ``USAGE_MAX_FUTURE_SECONDS`` after ``a``; once ``MAX_AGE`` more has passed,
    ingestion refuses it as too old, so its id can no longer let a replay through."""
    skew = timedelta(seconds=settings.USAGE_MAX_FUTURE_SECONDS)
    return now - MAX_AGE - skew - PRUNE_MARGIN


def usage_requests_prune(
    *, now: datetime | None = None, batch: int = PRUNE_BATCH, using: str = "default"
) -> int:
    """Delete the de-duplication rows older than ``prune_cutoff``, ``batch`` at a time, each
    batch its own short transaction (no long lock on the table ingestion writes). Returns
    the rows deleted."""
    cutoff = prune_cutoff(now or timezone.now())
    total = 0
    while True:
        oldest = (
            UsageRequest.objects.using(using)
            .filter(accepted_at__lt=cutoff)
            .order_by("accepted_at")
            .values_list("pk", flat=True)[:batch]
        )
        with transaction.atomic(using=using):
            deleted, _by_model = UsageRequest.objects.using(using).filter(pk__in=oldest).delete()
        total += deleted
        if deleted < batch:
            break
    if total:
        logger.info("%s usage request ids older than %s pruned", total, cutoff.isoformat())
    return total
