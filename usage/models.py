"""Usage events reported by the inference plane.

The table's natural order is ``occurred_at`` and it is designed to be split into monthly
partitions: de-duplication of ``request_id`` lives in its own small table (``UsageRequest``)
so that it keeps working when ``UsageEvent`` is partitioned by time.
"""

from django.db import models
from django.utils import timezone

from apikeys.models import ApiKey
from orgs.models import Organization


class UsageRequest(models.Model):
    """Every request id ever accepted; its primary key is the idempotency guarantee."""

    request_id = models.CharField(max_length=128, primary_key=True)
    accepted_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.request_id


class UsageEvent(models.Model):
    request_id = models.CharField(max_length=128)
    occurred_at = models.DateTimeField()
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="usage_events")
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
        indexes = [
            models.Index(fields=["organization", "occurred_at"]),
            models.Index(fields=["key", "occurred_at"]),
            models.Index(fields=["occurred_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.model} {self.cost_microcredits} µcr"
