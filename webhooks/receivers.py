"""The webhooks app's answers to what the apps below announce (connected in
``WebhooksConfig.ready``). Each runs inside the sender's transaction and writes the
event's outbox rows there (``services.event_emit``); delivery starts after commit."""

from apikeys.models import ApiKey
from orgs.models import Organization

from . import events
from .services import event_emit


def job_finished(sender, *, job, **kwargs) -> None:
    event_type = events.JOB_EVENTS.get(job.status)
    if event_type is None:
        return
    event_emit(
        organization=job.organization,
        event_type=event_type,
        data=events.job_data(job),
        deployment=job.deployment if job.deployment_id else None,
    )


def deployment_status_changed(sender, *, deployment, previous=None, **kwargs) -> None:
    if deployment.status == previous:
        return
    event_type = {"ready": "deployment.ready", "failed": "deployment.failed"}.get(deployment.status)
    if event_type is None:
        return
    event_emit(
        organization=deployment.organization,
        event_type=event_type,
        data=events.deployment_data(deployment, previous=previous),
    )


def key_spending_alert(
    sender,
    *,
    key_id: int,
    level: int,
    period: str,
    spend_microcredits: int,
    limit_microcredits: int,
    key_disabled: bool = False,
    **kwargs,
) -> None:
    key = ApiKey.objects.select_related("organization").filter(pk=key_id).first()
    if key is None:
        return
    event_emit(
        organization=key.organization,
        event_type="key.spending_limit.reached" if level >= 100 else "key.spending_limit.warning",
        data=events.key_limit_data(
            key,
            percent=level,
            period=period,
            spend=spend_microcredits,
            limit=limit_microcredits,
            key_disabled=key_disabled,
        ),
    )


def key_disabled(
    sender, *, key_id: int, reason: str, params=None, automatic: bool = False, **kwargs
) -> None:
    key = ApiKey.objects.select_related("organization").filter(pk=key_id).first()
    if key is None:
        return
    event_emit(
        organization=key.organization,
        event_type="key.disabled",
        data=events.key_disabled_data(key, reason=reason, params=params, automatic=automatic),
    )


def balance_low(
    sender,
    *,
    organization_id: int,
    balance_microcredits: int,
    threshold_microcredits: int,
    **kwargs,
) -> None:
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return
    event_emit(
        organization=organization,
        event_type="balance.low",
        data=events.balance_low_data(
            balance=balance_microcredits, threshold=threshold_microcredits
        ),
    )
