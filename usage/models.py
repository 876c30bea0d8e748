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
    # No foreign-key constraint in the database either: ingestion resolves every key (and
    # its organization) before writing, keys and organizations are never deleted (revoked,
    # closed), and the ORM still refuses to delete one that has events (PROTECT). A
    # constraint would cost each ingested event two deferred checks at commit, each
    # locking the parent row: about a fifth of PostgreSQL's work per batch.
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    key = models.ForeignKey(
        ApiKey,
        on_delete=models.PROTECT,
        related_name="usage_events",
        db_index=False,
        db_constraint=False,
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
            # The rollups' watermark: the beat task and every read's raw tail.
            models.Index(fields=["recorded_at"], name="usage_event_recorded"),
            # The 10 most expensive requests of a range: read down from the top cost.
            models.Index(
                fields=["organization", "cost_microcredits", "occurred_at"],
                name="usage_event_org_cost",
            ),
            # Under a model filter: the 10 most expensive (a cheap model's calls are far
            # down the index above) and the log's keyset pages.
            models.Index(
                fields=["organization", "model", "cost_microcredits", "occurred_at"],
                name="usage_event_org_model_cost",
            ),
            models.Index(
                fields=["organization", "model", "occurred_at"],
                name="usage_event_org_model_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model} {self.cost_microcredits} µcr"


# --- rollups: pre-aggregated hourly buckets (usage/rollups.py maintains them) --------------


class StatusClass(models.TextChoices):
    OK = "2xx", "2xx"
    CLIENT = "4xx", "4xx"
    SERVER = "5xx", "5xx"
    OTHER = "other", "other"


class RollupSums(models.Model):
    """One UTC hour of one tenant's events for one combination of the shape's dimensions.

    Each row holds exactly the events of its bucket whose ``recorded_at`` is before the
    watermark (``UsageRollupState``); a bucket is always recomputed whole from the raw
    events, never incremented.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    hour = models.DateTimeField()  # the UTC hour's first instant
    events = models.BigIntegerField(default=0)  # count of events ("requests" on the pages)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    images = models.BigIntegerField(default=0)
    seconds = models.BigIntegerField(default=0)
    clips = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(default=0)  # the sum of the ``requests`` unit
    cost_microcredits = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class RollupBase(RollupSums):
    status_class = models.CharField(max_length=5, choices=StatusClass.choices)

    class Meta:
        abstract = True


class UsageRollupHourModel(RollupSums):
    """By model alone (no endpoint, no status class: a third of the model shape's rows):
    the unfiltered page's totals, spend by model and daily series, and a model filter."""

    model = models.CharField(max_length=100)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "hour", "model"], name="usage_rollup_hour_model_bucket"
            )
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.model} {self.events}"


class UsageRollupModel(RollupBase):
    """Without the key: the unfiltered page and its model/endpoint/status filters."""

    model = models.CharField(max_length=100)
    endpoint = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "hour", "model", "endpoint", "status_class"],
                name="usage_rollup_model_bucket",
            )
        ]
        indexes = [
            # The models and endpoints a tenant used (the page's filter choices).
            models.Index(
                fields=["organization", "model", "endpoint", "hour"],
                name="usage_rollup_model_pairs",
            )
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.model} {self.events}"


class UsageRollupKey(RollupBase):
    """By key only: cost by key, and a key filter without a model or endpoint filter."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+", db_constraint=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "hour", "key", "status_class"],
                name="usage_rollup_key_bucket",
            )
        ]
        indexes = [models.Index(fields=["key", "hour"], name="usage_rollup_key_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h key {self.key_id} {self.events}"


class UsageRollup(RollupBase):
    """Every dimension: a key together with a model or endpoint filter."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    model = models.CharField(max_length=100)
    endpoint = models.CharField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "hour", "key", "model", "endpoint", "status_class"],
                name="usage_rollup_full_bucket",
            )
        ]
        indexes = [
            # Spend by key under a model filter, read from the index alone.
            models.Index(
                fields=[
                    "organization",
                    "model",
                    "hour",
                    "status_class",
                    "key",
                    "events",
                    "cost_microcredits",
                ],
                name="usage_rollup_full_model",
            ),
            models.Index(fields=["key", "hour"], name="usage_rollup_full_key"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h key {self.key_id} {self.model} {self.events}"


class UsageRollupState(models.Model):
    """The single row holding the watermark: every event recorded before it is in the
    rollups, every event recorded at or after it is read from the raw table."""

    watermark = models.DateTimeField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"rollups up to {self.watermark.isoformat()}"
