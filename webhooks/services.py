"""Every change to webhook endpoints and the outbox (selectors read, delivery sends)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from hypereal_site.api.errors import ApplicationError
from hypereal_site.crypto import encrypt
from hypereal_site.outbound import OutboundError, check_url
from hypereal_site.reasons import REASONS, reason_payload
from orgs.audit import Target, audit_record
from orgs.models import Organization

from . import events
from .models import WebhookEndpoint, WebhookMessage, new_message_id
from .signing import new_secret

MAX_ENDPOINTS = 20
URL_MAX_LENGTH = 500
ROTATION_OVERLAP_MAX_SECONDS = 7 * 86400

logger = logging.getLogger("hypereal.webhooks")


def _target(endpoint: WebhookEndpoint) -> Target:
    return Target("webhook_endpoint", endpoint.public_id, endpoint.url)


def _deployment_target(deployment) -> Target:
    return Target("deployment", deployment.public_id, deployment.slug)


def _snapshot(endpoint: WebhookEndpoint) -> dict:
    return {
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "enabled": endpoint.enabled,
        "description": endpoint.description,
    }


def url_validate(url: str) -> str:
    """Refuse a URL the sender would refuse (https, public addresses; see outbound.py)."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationError({"url": [_("Enter the URL that receives the events.")]})
    url = url.strip()
    if len(url) > URL_MAX_LENGTH:
        raise ValidationError({"url": [_("At most %(n)d characters.") % {"n": URL_MAX_LENGTH}]})
    try:
        check_url(url)
    except OutboundError as exc:
        raise ValidationError({"url": [exc.message]}) from None
    return url


def event_types_validate(event_types) -> list[str]:
    if not isinstance(event_types, list | tuple) or not event_types:
        raise ValidationError({"event_types": [_("Choose at least one event type.")]})
    unknown = [t for t in event_types if t not in events.EVENT_TYPES]
    if unknown:
        raise ValidationError(
            {
                "event_types": [
                    _("Unknown event type: %(types)s.") % {"types": ", ".join(map(str, unknown))}
                ]
            }
        )
    # The catalog's order, each once.
    return [t for t in events.EVENT_TYPES if t in set(event_types)]


@transaction.atomic
def endpoint_create(
    *,
    organization: Organization,
    actor: User,
    url: str,
    event_types: list[str],
    description: str = "",
    enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned once, stored encrypted)."""
    url = url_validate(url)
    event_types = event_types_validate(event_types)
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    if WebhookEndpoint.objects.filter(organization=organization).count() >= MAX_ENDPOINTS:
        raise ApplicationError(
            "limit_reached",
            _("An account has at most %(n)d webhook endpoints.") % {"n": MAX_ENDPOINTS},
            status=409,
        )
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=url,
        event_types=event_types,
        description=description.strip(),
        enabled=enabled,
        secret_encrypted=encrypt(secret),
        created_by=actor,
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="webhook.created",
        target=_target(endpoint),
        after=_snapshot(endpoint),
    )
    return endpoint, secret


_UNSET = object()


@transaction.atomic
def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    actor: User,
    url=_UNSET,
    event_types=_UNSET,
    description=_UNSET,
    enabled=_UNSET,
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    before = _snapshot(endpoint)
    if url is not _UNSET:
        endpoint.url = url_validate(url)
    if event_types is not _UNSET:
        endpoint.event_types = event_types_validate(event_types)
    if description is not _UNSET:
        endpoint.description = (description or "").strip()
    if enabled is not _UNSET:
        if enabled and not endpoint.enabled:
            endpoint.disabled_code, endpoint.disabled_params = "", {}
            endpoint.disabled_at = None
        elif not enabled and endpoint.enabled:
            endpoint.disabled_code, endpoint.disabled_params = "disabled_by", {"who": actor.email}
            endpoint.disabled_at = timezone.now()
        endpoint.enabled = bool(enabled)
    after = _snapshot(endpoint)
    if after == before:
        return endpoint
    endpoint.save()
    changed = [k for k in after if after[k] != before[k]]
    audit_record(
        organization=endpoint.organization,
        actor=actor,
        action="webhook.updated",
        target=_target(endpoint),
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, actor: User) -> None:
    audit_record(
        organization=endpoint.organization,
        actor=actor,
        action="webhook.deleted",
        target=_target(endpoint),
        before=_snapshot(endpoint),
    )
    endpoint.delete()  # its messages and attempts with it


@transaction.atomic
def endpoint_rotate_secret(
    *, endpoint: WebhookEndpoint, actor: User, overlap_seconds: int = 86400
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the old one keeps signing (a second signature) for ``overlap_seconds``."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = new_secret()
    if overlap_seconds > 0:
        endpoint.previous_secret_encrypted = endpoint.secret_encrypted
        endpoint.previous_secret_until = timezone.now() + timedelta(seconds=overlap_seconds)
    else:
        endpoint.previous_secret_encrypted = ""
        endpoint.previous_secret_until = None
    endpoint.secret_encrypted = encrypt(secret)
    endpoint.save(
        update_fields=[
            "secret_encrypted",
            "previous_secret_encrypted",
            "previous_secret_until",
            "updated_at",
        ]
    )
    audit_record(
        organization=endpoint.organization,
        actor=actor,
        action="webhook.secret_rotated",
        target=_target(endpoint),
        after={"grace_seconds": overlap_seconds},
    )
    return endpoint, secret


def endpoint_disable_in_transaction(
    *, endpoint: WebhookEndpoint, reason: str, params: dict | None = None
) -> bool:
    """The sender disables an endpoint (410 Gone, or failing for days); emails the people
    who manage webhooks after commit. ``reason`` is a code of ``hypereal_site.reasons``
    with its ``params``. True when this call disabled it."""
    if reason not in REASONS:
        raise ValueError(f"unknown reason code {reason!r}")
    now = timezone.now()
    params = params or {}
    disabled = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False,
        disabled_code=reason,
        disabled_params=params,
        disabled_at=now,
        updated_at=now,
    )
    if not disabled:
        return False
    audit_record(
        organization=endpoint.organization,
        actor=None,
        action="webhook.disabled",
        target=_target(endpoint),
        before={"enabled": True},
        after={"enabled": False, "reason": reason_payload(reason, params)},
    )
    from .tasks import send_endpoint_disabled_email  # noqa: PLC0415 - tasks import services

    endpoint_id, stamp = endpoint.pk, now.isoformat()
    transaction.on_commit(lambda: send_endpoint_disabled_email.delay(endpoint_id, stamp))
    return True


# --- the outbox ----------------------------------------------------------------------------


def _enqueue_on_commit(message_ids: list[int]) -> None:
    if not message_ids:
        return
    from .tasks import deliver_message  # noqa: PLC0415 - tasks import services

    def run() -> None:
        for pk in message_ids:
            try:
                deliver_message.delay(pk)
            except Exception:  # the broker is down: the sweeper sends it later
                logger.warning("could not enqueue webhook delivery", exc_info=True)
                return

    transaction.on_commit(run)


def event_emit(
    *,
    organization: Organization,
    event_type: str,
    data: dict,
    deployment=None,
    at=None,
) -> list[WebhookMessage]:
    """Write one outbox row per destination of the event, inside the caller's transaction:
    each enabled endpoint of ``organization`` subscribed to ``event_type``, and
    ``deployment``'s own ``webhook_url`` when given and set. Delivery starts after commit."""
    if event_type not in events.EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    at = at or timezone.now()
    body = events.envelope(event_type=event_type, data=data, at=at)
    event_id = new_message_id()
    endpoints = [
        e
        for e in WebhookEndpoint.objects.filter(organization=organization, enabled=True)
        if event_type in (e.event_types or [])
    ]
    rows = [
        WebhookMessage(
            event_id=event_id,
            organization=organization,
            endpoint=e,
            event_type=event_type,
            body=body,
            next_attempt_at=at,
            created_at=at,
        )
        for e in endpoints
    ]
    if deployment is not None and deployment.webhook_url and deployment.webhook_secret_encrypted:
        rows.append(
            WebhookMessage(
                event_id=event_id,
                organization=organization,
                deployment=deployment,
                event_type=event_type,
                body=body,
                next_attempt_at=at,
                created_at=at,
            )
        )
    if not rows:
        return []
    created = WebhookMessage.objects.bulk_create(rows)
    if any(m.pk is None for m in created):  # a backend that returns no ids (never PG/SQLite)
        created = list(WebhookMessage.objects.filter(event_id=event_id))
    _enqueue_on_commit([m.pk for m in created])
    return created


@transaction.atomic
def endpoint_send_test(*, endpoint: WebhookEndpoint, actor: User) -> WebhookMessage:
    """A ``webhook.test`` event to this endpoint only (enabled or not)."""
    now = timezone.now()
    message = WebhookMessage.objects.create(
        organization=endpoint.organization,
        endpoint=endpoint,
        event_type=events.TEST_EVENT,
        body=events.envelope(event_type=events.TEST_EVENT, data=events.test_data(endpoint), at=now),
        is_test=True,
        next_attempt_at=now,
        created_at=now,
    )
    audit_record(
        organization=endpoint.organization,
        actor=actor,
        action="webhook.test_sent",
        target=_target(endpoint),
        after={"delivery": message.event_id},
    )
    _enqueue_on_commit([message.pk])
    return message


def _deployment_webhook_check(deployment) -> None:
    if not deployment.webhook_url or not deployment.webhook_secret_encrypted:
        raise ApplicationError(
            "no_webhook_url",
            _("This deployment has no webhook URL. Set one in its settings first."),
            status=409,
        )


@transaction.atomic
def deployment_send_test(*, deployment, actor: User) -> WebhookMessage:
    """A ``webhook.test`` event to a deployment's own ``webhook_url`` (nowhere else),
    signed with the deployment's secret; it shows in the deployment's delivery log."""
    _deployment_webhook_check(deployment)
    now = timezone.now()
    message = WebhookMessage.objects.create(
        organization_id=deployment.organization_id,
        deployment=deployment,
        event_type=events.TEST_EVENT,
        body=events.envelope(
            event_type=events.TEST_EVENT, data=events.deployment_test_data(deployment), at=now
        ),
        is_test=True,
        next_attempt_at=now,
        created_at=now,
    )
    audit_record(
        organization=deployment.organization,
        actor=actor,
        action="deployment.webhook_test_sent",
        target=_deployment_target(deployment),
        after={"delivery": message.event_id},
    )
    _enqueue_on_commit([message.pk])
    return message


@transaction.atomic
def message_resend(*, message: WebhookMessage, actor: User) -> WebhookMessage:
    """Deliver again now, with a new round of retries (same ``webhook-id``)."""
    message = (
        WebhookMessage.objects.select_for_update(of=("self",))
        .select_related("endpoint", "deployment")
        .get(pk=message.pk)
    )
    if message.endpoint_id and not message.endpoint.enabled and not message.is_test:
        raise ApplicationError(
            "endpoint_disabled", _("Enable the endpoint before resending to it."), status=409
        )
    if message.deployment_id:
        _deployment_webhook_check(message.deployment)
    message.status = WebhookMessage.Status.PENDING
    message.round_start = message.attempt_count
    message.next_attempt_at = timezone.now()
    message.finished_at = None
    message.save(update_fields=["status", "round_start", "next_attempt_at", "finished_at"])
    # In the log of the organization the message belongs to, on its endpoint or deployment.
    if message.deployment_id:
        action, target = "deployment.webhook_resent", _deployment_target(message.deployment)
    else:
        action, target = "webhook.delivery_resent", _target(message.endpoint)
    audit_record(
        organization=message.organization,
        actor=actor,
        action=action,
        target=target,
        after={"delivery": message.event_id, "event_type": message.event_type},
    )
    _enqueue_on_commit([message.pk])
    return message


def retention_cutoff():
    return timezone.now() - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
