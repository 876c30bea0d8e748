"""Reads of usage events for the console's pages (the usage issue builds on these)."""

from datetime import UTC, datetime

from django.db.models import Count, Sum
from django.utils import timezone

from orgs.models import Organization

from .models import UsageEvent


def month_start(now: datetime | None = None) -> datetime:
    """The first instant of the current calendar month in UTC (spend months are UTC)."""
    now = (now or timezone.now()).astimezone(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def usage_month_summary(*, organization: Organization, now: datetime | None = None) -> dict:
    """Requests and spend (µcr) of the organization's events in the current UTC month."""
    row = UsageEvent.objects.filter(
        organization=organization, occurred_at__gte=month_start(now)
    ).aggregate(requests=Count("id"), cost=Sum("cost_microcredits"))
    return {"requests": row["requests"] or 0, "cost_microcredits": row["cost"] or 0}


def usage_total_requests(*, organization: Organization) -> int:
    return UsageEvent.objects.filter(organization=organization).count()


def usage_seen(*, organization: Organization) -> bool:
    """Whether any request of the organization's keys has ever been recorded."""
    return UsageEvent.objects.filter(organization=organization).exists()
