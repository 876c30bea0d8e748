"""Usage events reported by the inference plane.

On PostgreSQL ``usage_usageevent`` is partitioned by month on ``occurred_at`` (migration
0002, ``usage/partitions.py``; docs/architecture.md "Usage storage"): its primary key there
is ``(id, occurred_at)``, since a partitioned table's unique keys must hold the partition key.
Django keeps treating ``id`` alone as the primary key, which the identity sequence keeps
unique; nothing may reference a usage event by a foreign key. De-duplication of
``request_id`` lives in its own table (``UsageRequest``) so that it works across partitions.
SQLite (development) keeps one plain table with the same code above it.
"""

from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.utils import timezone

from apikeys.models import ApiKey
from orgs.models import Organization


class UsageRequest(models.Model):
    """Every request id ever accepted; its primary key is the idempotency guarantee."""

    request_id = models.CharField(max_length=128, primary_key=True)
    accepted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The pruning of ids too old to be replayed (usage.storage.usage_requests_prune).
        indexes = [models.Index(fields=["accepted_at"], name="usage_request_accepted")]

    def __str__(self) -> str:
        return self.request_id


class UsageEvent(models.Model):
    request_id = models.CharField(max_length=128)
    occurred_at = models.DateTimeField()
    # No single-column index of their own: the composite indexes below lead with them.
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    key = models.ForeignKey(
        ApiKey, on_delete=models.PROTECT, related_name="usage_events", db_index=False
    )
    endpoint = models.CharField(max_length=32)
    model = models.CharField(max_length=100)
    provider = models.CharField(max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField()
    latency_ms = models.PositiveIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    seconds = models.PositiveIntegerField(default=0)
    clips = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    cost_microcredits = models.BigIntegerField(default=0)
    hold_public_id = models.CharField(max_length=16, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # What usage/selectors.py asks: an organization's (or a key's) events in a time
        # range, newest first by the keyset (occurred_at, id); one request id within an
        # organization. BRIN for time ranges over every tenant (rows arrive in time order).
        indexes = [
            models.Index(fields=["organization", "occurred_at", "id"], name="usage_event_org_time"),
            models.Index(fields=["key", "occurred_at", "id"], name="usage_event_key_time"),
            models.Index(fields=["organization", "request_id"], name="usage_event_org_request"),
            BrinIndex(fields=["occurred_at"], name="usage_event_time_brin"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model} {self.cost_microcredits} µcr"
