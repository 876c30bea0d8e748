from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from orgs.models import Organization
from orgs.permissions import Perm
from orgs.selectors import members_with_perm

from .models import ApiKey, KeyAlert, KeyMonthSpend


def current_period(now=None) -> str:
    return (now or timezone.now()).strftime("%Y-%m")


def apikey_list(*, organization: Organization) -> QuerySet[ApiKey]:
    return (
        ApiKey.objects.filter(organization=organization)
        .exclude(status=ApiKey.Status.REVOKED)
        .select_related("created_by")
        .order_by("-created_at")
    )


def apikey_active_count(*, organization: Organization) -> int:
    return ApiKey.objects.filter(organization=organization, status=ApiKey.Status.ACTIVE).count()


def apikey_exists(*, organization: Organization) -> bool:
    """Whether the organization has a key that is not revoked."""
    return apikey_list(organization=organization).exists()


def apikey_get(*, organization: Organization, public_id: str) -> ApiKey:
    key = (
        ApiKey.objects.filter(organization=organization, public_id=public_id)
        .select_related("created_by", "organization")
        .first()
    )
    if key is None:
        raise Http404("No such API key.")
    return key


def key_period_spend(*, key: ApiKey, period: str | None = None) -> int:
    row = KeyMonthSpend.objects.filter(key=key, period=period or current_period()).first()
    return row.spend_microcredits if row else 0


def key_period_overshoot(*, key: ApiKey, period: str | None = None) -> int:
    """µcr charged this month beyond the calls' reservations (estimates below the cost)."""
    row = KeyMonthSpend.objects.filter(key=key, period=period or current_period()).first()
    return row.overshoot_microcredits if row else 0


def keys_period_spend(*, keys: list[ApiKey], period: str | None = None) -> dict[int, int]:
    return dict(
        KeyMonthSpend.objects.filter(key__in=keys, period=period or current_period()).values_list(
            "key_id", "spend_microcredits"
        )
    )


def key_alerts(*, key: ApiKey) -> QuerySet[KeyAlert]:
    return key.alerts.order_by("-created_at")


def key_alert_recipients(*, key: ApiKey) -> list[str]:
    """The key's creator and, for an organization's key, the members who decide key
    budgets: holders of Perm.KEYS_DEFAULT_CAP (owners, admins, billing), by the role table.
    They, not only those who may raise the cap, must hear that a budget line was reached."""
    emails = set()
    if key.created_by and key.created_by.is_active:
        emails.add(key.created_by.email)
    org = key.organization
    if org.is_personal and org.personal_for:
        emails.add(org.personal_for.email)
    elif not org.is_personal:
        emails.update(
            members_with_perm(organization=org, perm=Perm.KEYS_DEFAULT_CAP).values_list(
                "user__email", flat=True
            )
        )
    return sorted(emails)
