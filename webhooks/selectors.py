"""Reading webhook endpoints and their delivery log; every lookup names the tenant."""

from django.db.models import QuerySet
from django.http import Http404

from orgs.models import Organization
from orgs.permissions import Perm
from orgs.selectors import members_with_perm

from .models import WebhookEndpoint, WebhookMessage

DELIVERIES_PAGE = 50


def endpoint_list(*, organization: Organization) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(organization=organization).order_by("created_at", "id")


def endpoint_get(*, organization: Organization, public_id: str) -> WebhookEndpoint:
    public_id = str(public_id)
    if not (public_id.isascii() and public_id.isalnum() and len(public_id) <= 16):
        raise Http404("No such webhook endpoint.")
    endpoint = WebhookEndpoint.objects.filter(
        organization=organization, public_id=public_id
    ).first()
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def endpoint_messages(
    *, endpoint: WebhookEndpoint, limit: int = DELIVERIES_PAGE
) -> list[WebhookMessage]:
    """The latest messages with their attempts (newest first)."""
    return list(
        WebhookMessage.objects.filter(endpoint=endpoint)
        .prefetch_related("attempts")
        .order_by("-created_at", "-id")[:limit]
    )


def deployment_messages(*, deployment, limit: int = DELIVERIES_PAGE) -> list[WebhookMessage]:
    """The latest messages sent to a deployment's own ``webhook_url`` with their attempts
    (newest first); the caller has looked the deployment up in its tenant."""
    return list(
        WebhookMessage.objects.filter(deployment=deployment, endpoint__isnull=True)
        .prefetch_related("attempts")
        .order_by("-created_at", "-id")[:limit]
    )


def message_get(
    *, event_id: str, endpoint: WebhookEndpoint | None = None, deployment=None
) -> WebhookMessage:
    """One message of ``endpoint``'s log, or of ``deployment``'s; 404 for any other."""
    if (endpoint is None) == (deployment is None):
        raise ValueError("name the endpoint or the deployment")
    event_id = str(event_id)
    if not (event_id.startswith("msg_") and event_id[4:].isascii() and event_id[4:].isalnum()):
        raise Http404("No such delivery.")
    found = WebhookMessage.objects.filter(event_id=event_id[:40])
    if endpoint is not None:
        found = found.filter(endpoint=endpoint)
    else:
        found = found.filter(deployment=deployment, endpoint__isnull=True)
    message = found.prefetch_related("attempts").first()
    if message is None:
        raise Http404("No such delivery.")
    return message


def endpoint_contacts(*, organization: Organization) -> list[str]:
    """Who hears that an endpoint was disabled: the user of a personal account; an
    organization's members who manage webhooks (owners and admins)."""
    if organization.is_personal:
        user = organization.personal_for
        return [user.email] if user else []
    return sorted(
        members_with_perm(organization=organization, perm=Perm.WEBHOOKS_MANAGE).values_list(
            "user__email", flat=True
        )
    )
