"""The event types, their documented payloads (docs/webhooks.md), and the exact JSON body.

Every message body is ``{"type", "timestamp", "data"}`` (the Standard Webhooks shape).
Credits are exact decimal numbers written as JSON numbers (never through a float), as the
APIs write ``costCredits``.
"""

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from billing.money import credits_output
from hypereal_site.reasons import reason_text

EVENT_TYPES = {
    "job.succeeded": _("A GPU job succeeded"),
    "job.failed": _("A GPU job failed"),
    "job.timed_out": _("A GPU job timed out"),
    "job.canceled": _("A GPU job was canceled"),
    "deployment.ready": _("A deployment became ready"),
    "deployment.failed": _("A deployment failed"),
    "key.spending_limit.warning": _("An API key reached 80% of its monthly limit"),
    "key.spending_limit.reached": _("An API key reached its monthly limit"),
    "key.disabled": _("An API key was disabled"),
    "balance.low": _("The balance fell below the low-balance alert"),
}
#: Sent by "Send test event" only, whatever the endpoint subscribes to.
TEST_EVENT = "webhook.test"

#: A job's final status -> its event type.
JOB_EVENTS = {
    "succeeded": "job.succeeded",
    "failed": "job.failed",
    "timed_out": "job.timed_out",
    "canceled": "job.canceled",
}


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def credits(microcredits: int | None):
    return credits_output(microcredits)


_DECIMAL = "\x00decimal:"
_DECIMAL_RE = re.compile(r'"\\u0000decimal:(-?[0-9]+(?:\.[0-9]+)?)"')


def _mark_decimals(value):
    if isinstance(value, Decimal):
        return f"{_DECIMAL}{value:f}"
    if isinstance(value, dict):
        return {k: _mark_decimals(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mark_decimals(v) for v in value]
    return value


def dumps(value) -> str:
    """Compact JSON with Decimals as exact numbers (``12.000125``, not a string)."""
    text = json.dumps(_mark_decimals(value), separators=(",", ":"), ensure_ascii=False)
    return _DECIMAL_RE.sub(r"\1", text)


def envelope(*, event_type: str, data: dict, at: datetime) -> str:
    return dumps({"type": event_type, "timestamp": iso(at), "data": data})


# --- payloads ------------------------------------------------------------------------------


def job_data(job) -> dict:
    return {
        "jobId": job.public_id,
        "status": job.status,
        "deployment": job.deployment.slug if job.deployment_id else None,
        "model": job.serverless_model.slug if job.serverless_model_id else None,
        "providerJobId": job.provider_job_id or None,
        "output": job.output,
        "error": job.error or None,
        "gpuType": job.gpu_type or None,
        "gpuCount": job.gpu_count,
        "executionMs": job.execution_ms,
        "creditsCharged": credits(job.charged_microcredits or 0),
        "createdAt": iso(job.created_at),
        "finishedAt": iso(job.finished_at),
    }


def deployment_data(deployment, *, previous: str | None) -> dict:
    """``statusDetailCode`` (and its parameters) for programs; ``statusDetail`` the same in
    English words (a payload is not in anyone's language)."""
    with translation.override("en"):
        sentence = deployment.status_detail
    return {
        "deployment": {
            "id": deployment.public_id,
            "slug": deployment.slug,
            "name": deployment.name,
            "status": deployment.status,
            "statusDetail": sentence or None,
            "statusDetailCode": deployment.status_detail_code or None,
            "statusDetailParams": dict(deployment.status_detail_params or {}),
            "gpuTypes": list(deployment.gpu_types or []),
        },
        "previousStatus": previous,
    }


def key_ref(key) -> dict:
    return {"id": key.public_id, "name": key.name, "prefix": key.masked}


def key_limit_data(
    key, *, percent: int, period: str, spend: int, limit: int, key_disabled: bool
) -> dict:
    return {
        "key": key_ref(key),
        "period": period,
        "percent": percent,
        "spendCredits": credits(spend),
        "spendingLimitCredits": credits(limit),
        "keyDisabled": key_disabled,
    }


def key_disabled_data(key, *, reason: str, params: dict | None = None, automatic: bool) -> dict:
    """``reasonCode`` for programs; ``reason`` the same in English words (a payload is
    not in anyone's language)."""
    with translation.override("en"):
        sentence = reason_text(reason, params)
    return {"key": key_ref(key), "reason": sentence, "reasonCode": reason, "automatic": automatic}


def balance_low_data(*, balance: int, threshold: int) -> dict:
    return {"balanceCredits": credits(balance), "thresholdCredits": credits(threshold)}


def test_data(endpoint) -> dict:
    return {
        "endpointId": endpoint.public_id,
        "message": "This is a test event from Hypereal Console.",
    }


def deployment_test_data(deployment) -> dict:
    return {
        "deploymentId": deployment.public_id,
        "deployment": deployment.slug,
        "message": "This is a test event from Hypereal Console.",
    }
