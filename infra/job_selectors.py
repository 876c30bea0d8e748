"""Reads of GPU jobs and the serverless catalog, always scoped to the tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from .models import Deployment, GpuJob, ServerlessGpuModel

JOB_RELATED = ("deployment", "serverless_model__catalog_model", "hold", "api_key", "created_by")


def job_get(*, organization_id: int, public_id: str) -> GpuJob:
    """The tenant's job by its public id; another tenant's (or no) job is a 404."""
    job = (
        GpuJob.objects.select_related(*JOB_RELATED)
        .filter(organization_id=organization_id, public_id=str(public_id)[:16])
        .first()
    )
    if job is None:
        raise Http404("No such job.")
    return job


def job_get_any(*, public_id: str) -> GpuJob | None:
    """A job by its public id, any tenant (the provider's callback checks its token)."""
    return GpuJob.objects.select_related(*JOB_RELATED).filter(public_id=str(public_id)[:16]).first()


def job_deployment_get(*, organization_id: int, slug: str) -> Deployment:
    deployment = Deployment.objects.filter(
        organization_id=organization_id, slug=str(slug)[:64]
    ).first()
    if deployment is None:
        raise Http404("No such deployment.")
    return deployment


def serverless_model_get(*, slug: str) -> ServerlessGpuModel:
    model = (
        ServerlessGpuModel.objects.select_related("catalog_model")
        .filter(slug=str(slug)[:100], active=True, catalog_model__active=True)
        .first()
    )
    if model is None:
        raise Http404("No such serverless GPU model.")
    return model


def serverless_catalog(*, query: str = "") -> QuerySet[ServerlessGpuModel]:
    models = ServerlessGpuModel.objects.select_related("catalog_model").filter(
        active=True, catalog_model__active=True
    )
    query = query.strip()[:100]
    if query:
        models = models.filter(
            Q(slug__icontains=query)
            | Q(description__icontains=query)
            | Q(catalog_model__display_name__icontains=query)
        )
    return models.order_by("slug")


@dataclass(frozen=True)
class JobPage:
    jobs: list[GpuJob]
    next_cursor: str | None


def _cursor_parse(cursor: str) -> tuple[datetime, int] | None:
    stamp, _, pk = (cursor or "").partition("_")
    try:
        moment = datetime.fromisoformat(stamp)
        return moment, int(pk)
    except (ValueError, OverflowError):
        return None


def deployment_jobs(
    *,
    deployment: Deployment,
    status: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str = "",
    limit: int = 25,
) -> JobPage:
    """The deployment's jobs, newest first, keyset-paginated on (created_at, id)."""
    jobs = GpuJob.objects.select_related("hold").filter(deployment=deployment)
    if status:
        jobs = jobs.filter(status=status)
    if since:
        jobs = jobs.filter(created_at__gte=since)
    if until:
        jobs = jobs.filter(created_at__lt=until)
    position = _cursor_parse(cursor)
    if position is not None:
        moment, pk = position
        jobs = jobs.filter(Q(created_at__lt=moment) | Q(created_at=moment, id__lt=pk))
    rows = list(jobs.order_by("-created_at", "-id")[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = f"{last.created_at.isoformat()}_{last.pk}"
    return JobPage(jobs=rows, next_cursor=next_cursor)


def deployment_spend_this_month(*, deployment: Deployment) -> int:
    """µcr charged for the deployment's jobs settled this calendar month (UTC)."""
    now = timezone.now()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    total = GpuJob.objects.filter(deployment=deployment, settled_at__gte=start).aggregate(
        total=Sum("charged_microcredits")
    )["total"]
    return total or 0
