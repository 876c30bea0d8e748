"""Reading GPU types and deployments. Every deployment lookup names its tenant."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from apikeys.models import ApiKey
from orgs.models import Membership
from orgs.permissions import Perm, role_allows

from . import providers
from .models import Deployment, GpuJob, GpuType
from .providers.base import EndpointHealth, ProviderError


def gpu_type_list(*, active_only: bool = True) -> QuerySet[GpuType]:
    rows = GpuType.objects.all()
    return rows.filter(active=True) if active_only else rows


def gpu_rates(codes: list[str]) -> dict[str, int]:
    """code → µcr per second of one GPU, for the given codes."""
    return dict(
        GpuType.objects.filter(code__in=codes).values_list("code", "microcredits_per_second")
    )


def hold_microcredits(
    *, gpu_types: list[str], gpu_count: int, execution_timeout_seconds: int
) -> int:
    """What one job holds at submit: the execution timeout × GPU count × the rate of the
    most expensive allowed GPU type (exact µcr; 0 when no type is known)."""
    rates = gpu_rates(list(gpu_types))
    top = max(rates.values(), default=0)
    return int(execution_timeout_seconds) * int(gpu_count) * top


def deployment_hold_microcredits(deployment: Deployment) -> int:
    return hold_microcredits(
        gpu_types=deployment.gpu_types,
        gpu_count=deployment.gpu_count,
        execution_timeout_seconds=deployment.execution_timeout_seconds,
    )


def deployment_rate_range(deployment: Deployment) -> tuple[int, int]:
    """(cheapest, dearest) µcr per second for the whole deployment (× GPU count)."""
    rates = gpu_rates(list(deployment.gpu_types)).values() or [0]
    return min(rates) * deployment.gpu_count, max(rates) * deployment.gpu_count


def deployment_list(*, organization) -> QuerySet[Deployment]:
    return Deployment.objects.filter(organization=organization, deleted_at__isnull=True)


def deployment_get(*, organization, slug: str) -> Deployment:
    """The tenant's deployment ``slug``; 404 for anyone else's or a deleted one."""
    found = (
        Deployment.objects.filter(organization=organization, slug=slug, deleted_at__isnull=True)
        .select_related("organization", "created_by")
        .first()
    )
    if found is None:
        raise Http404("No such deployment.")
    return found


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def deployment_month_spend(*, deployment: Deployment) -> int:
    """µcr charged this UTC month for the deployment's jobs (by when they were settled)."""
    total = GpuJob.objects.filter(
        deployment=deployment,
        finished_at__gte=month_start(),
        charged_microcredits__isnull=False,
    ).aggregate(total=Sum("charged_microcredits"))["total"]
    return int(total or 0)


def deployments_month_spend(*, deployments: list[Deployment]) -> dict[int, int]:
    rows = (
        GpuJob.objects.filter(
            deployment__in=deployments,
            finished_at__gte=month_start(),
            charged_microcredits__isnull=False,
        )
        .values("deployment_id")
        .annotate(total=Sum("charged_microcredits"))
    )
    return {row["deployment_id"]: int(row["total"] or 0) for row in rows}


@dataclass(frozen=True)
class LiveHealth:
    health: EndpointHealth | None
    error: str  # why it is unavailable ("" when health is known)
    no_endpoint: bool = False  # the provider endpoint does not exist (yet, or any more)


def deployment_health(*, deployment: Deployment) -> LiveHealth:
    """Workers and queue from the provider, asked now; a provider error (the adapter's
    own short timeout included) degrades to "unavailable", never to an error page."""
    if not deployment.provider_endpoint_id or deployment.deleted_at is not None:
        return LiveHealth(None, "no endpoint", no_endpoint=True)
    try:
        return LiveHealth(providers.get_provider().health(deployment.provider_endpoint_id), "")
    except ProviderError as exc:
        return LiveHealth(None, str(exc)[:200])


def key_role(*, key: ApiKey) -> str | None:
    """The role a ``ck_`` key acts with on the deployment APIs: its creator's current role
    in the key's tenant (a personal account's owner is its owner). None when the creator
    is gone or no longer a member: such a key may use the gateway, not manage GPUs."""
    if key.created_by_id is None:
        return None
    return (
        Membership.objects.filter(organization_id=key.organization_id, user_id=key.created_by_id)
        .values_list("role", flat=True)
        .first()
    )


def key_allows(*, key: ApiKey, perm: Perm) -> bool:
    role = key_role(key=key)
    return role is not None and role_allows(role, perm)
