"""Sending one outbox message: sign, POST through ``hypereal_site.outbound``, record the
attempt, and decide what happens next (delivered, retry later, give up, disable).

An attempt first *claims* the message: one conditional UPDATE pushes ``next_attempt_at``
past the attempt's timeout and counts the attempt. A second worker (or the sweeper) that
finds it claimed does nothing; a worker that dies mid-attempt leaves a claim that runs out,
and the sweeper retries it. No transaction is open during the HTTP request.
"""

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import EmptyWebhookSecretError

from hypereal_site.crypto import DecryptionError, decrypt
from hypereal_site.outbound import USER_AGENT, OutboundError, fetch
from hypereal_site.reasons import moment

from .models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from .services import endpoint_disable_in_transaction
from .signing import signed_headers

logger = logging.getLogger("hypereal.webhooks")

#: Seconds to wait before attempt n+1 (attempt 1 goes at once): 5 s, 5 min, 30 min, 2 h,
#: 5 h, 10 h, 14 h, 20 h, 24 h; ten attempts over about three days (docs/webhooks.md).
RETRY_DELAYS = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
#: Each delay is stretched by a random factor in [1, 1 + JITTER], so that the messages of
#: an endpoint that was down do not all come back in one burst.
JITTER = 0.2
#: The longest Retry-After we honour (longer answers are capped at it).
RETRY_AFTER_MAX = 86400
ALL_STATUSES = tuple(range(100, 600))
RESPONSE_MAX_BYTES = 64 * 1024


def retry_delay(attempt: int, *, retry_after: int | None = None, rng=random) -> int | None:
    """Seconds to wait after failed attempt number ``attempt`` of a round (1-based), or
    None when the round is over. ``Retry-After`` is honoured when it asks for longer."""
    if attempt >= MAX_ATTEMPTS:
        return None
    base = RETRY_DELAYS[attempt - 1]
    delay = round(base * (1 + rng.random() * JITTER))
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
    return delay


def parse_retry_after(value: str | None, *, now: datetime) -> int | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(int(value[:9]), RETRY_AFTER_MAX)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0, min(int((when - now).total_seconds()), RETRY_AFTER_MAX))


@dataclass(frozen=True)
class Destination:
    url: str
    secrets: list[str]


def _destination(message: WebhookMessage, *, now: datetime) -> Destination | str:
    """Where and with which secrets to send, or why the message cannot be sent (a code of
    hypereal_site.reasons)."""
    if message.endpoint_id:
        endpoint = message.endpoint
        if not endpoint.enabled and not message.is_test:
            return "endpoint_disabled"
        try:
            keys = [decrypt(endpoint.secret_encrypted)]
            if (
                endpoint.previous_secret_encrypted
                and endpoint.previous_secret_until
                and endpoint.previous_secret_until > now
            ):
                keys.append(decrypt(endpoint.previous_secret_encrypted))
        except DecryptionError:
            return "secret_undecryptable"
        return Destination(url=endpoint.url, secrets=keys)
    deployment = message.deployment
    if not deployment.webhook_url or not deployment.webhook_secret_encrypted:
        return "no_webhook_url"
    try:
        return Destination(
            url=deployment.webhook_url, secrets=[decrypt(deployment.webhook_secret_encrypted)]
        )
    except DecryptionError:
        return "secret_undecryptable"


def _claim(message_id: int, *, now: datetime) -> bool:
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + 60)
    return bool(
        WebhookMessage.objects.filter(
            pk=message_id, status=WebhookMessage.Status.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=lease, attempt_count=F("attempt_count") + 1)
    )


def _excerpt(body: bytes) -> str:
    text = body[: WebhookAttempt.RESPONSE_EXCERPT_CHARS * 4].decode("utf-8", "replace")
    return text.replace("\x00", "")[: WebhookAttempt.RESPONSE_EXCERPT_CHARS]


def message_deliver(*, message_id: int, now: datetime | None = None) -> WebhookAttempt | None:
    """Make the attempt that is due, if it is (else None). ``now`` decides what is due and
    when the next attempt is (tests travel in time with it); the signature's timestamp is
    the real time of sending, as receivers check it against their clock."""
    now = now or timezone.now()
    if not _claim(message_id, now=now):
        return None
    message = (
        WebhookMessage.objects.select_related("endpoint", "deployment")
        .filter(pk=message_id)
        .first()
    )
    if message is None:  # its endpoint was deleted meanwhile
        return None
    number = message.attempt_count
    destination = _destination(message, now=now)
    if isinstance(destination, str):
        return _record(message, number=number, url="", outcome=None, error=destination, now=now)

    try:
        signature = signed_headers(
            msg_id=message.event_id,
            body=message.body,
            secrets_=destination.secrets,
            at=timezone.now(),
        )
    except (ValueError, EmptyWebhookSecretError):  # binascii.Error is a ValueError
        return _record(
            message,
            number=number,
            url="",
            outcome=None,
            error="secret_not_whsec",
            now=now,
        )
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **signature}
    started = time.monotonic()
    try:
        response = fetch(
            destination.url,
            method="POST",
            headers=headers,
            body=message.body.encode(),
            max_bytes=RESPONSE_MAX_BYTES,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            expect_status=ALL_STATUSES,
        )
    except OutboundError as exc:
        duration = int((time.monotonic() - started) * 1000)
        return _record(
            message,
            number=number,
            url=destination.url,
            outcome=None,
            error=exc.detail,
            error_params=exc.params,
            now=now,
            duration_ms=duration,
        )
    duration = int((time.monotonic() - started) * 1000)
    return _record(
        message,
        number=number,
        url=destination.url,
        outcome=response,
        error="",
        now=now,
        duration_ms=duration,
    )


def _record(message, **kwargs) -> WebhookAttempt | None:
    try:
        return _record_in_transaction(message, **kwargs)
    except (IntegrityError, WebhookMessage.DoesNotExist):
        return None  # the endpoint (and its messages) was deleted during the attempt


@transaction.atomic
def _record_in_transaction(
    message, *, number, url, outcome, error, now, duration_ms=0, error_params=None
) -> WebhookAttempt:
    """``error`` is why the attempt failed, a code of hypereal_site.reasons ("" when it did
    not), with ``error_params``: stored so, it is shown in the reader's language."""
    status_code = outcome.status if outcome is not None else None
    succeeded = status_code is not None and 200 <= status_code < 300
    error_params = dict(error_params or {})
    if status_code is not None and not succeeded:
        error = "http_redirect" if 300 <= status_code < 400 else "http_status"
        error_params = {"status": status_code}
    attempt = WebhookAttempt.objects.create(
        message=message,
        number=number,
        url=url[:500],
        succeeded=succeeded,
        status_code=status_code,
        response_excerpt=_excerpt(outcome.body) if outcome is not None else "",
        duration_ms=max(0, duration_ms),
        error_code=error,
        error_params=error_params,
        created_at=now,
    )
    message = WebhookMessage.objects.select_for_update().get(pk=message.pk)
    message.last_status_code = status_code
    message.last_error_code, message.last_error_params = error, error_params
    endpoint = None
    if message.endpoint_id:
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=message.endpoint_id)

    if succeeded:
        message.status = WebhookMessage.Status.SUCCEEDED
        message.next_attempt_at = None
        message.finished_at = now
        if endpoint is not None:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(last_success_at=now)
    elif status_code == 410:
        # Gone: the receiver asks us to stop. No retries, and the endpoint is disabled.
        message.status = WebhookMessage.Status.FAILED
        message.next_attempt_at = None
        message.finished_at = now
        if endpoint is not None and not message.is_test:
            endpoint_disable_in_transaction(
                endpoint=endpoint,
                reason="gone_410",
                params={"when": moment(now)},
            )
    elif url == "":
        message.status = WebhookMessage.Status.FAILED  # nowhere to send it
        message.next_attempt_at = None
        message.finished_at = now
    else:
        retry_after = None
        if outcome is not None:
            retry_after = parse_retry_after(outcome.headers.get("retry-after"), now=now)
        delay = retry_delay(number - message.round_start, retry_after=retry_after)
        if delay is None or message.is_test:  # a test event is tried once
            message.status = WebhookMessage.Status.FAILED
            message.next_attempt_at = None
            message.finished_at = now
            if endpoint is not None and not message.is_test:
                _maybe_disable_failing(endpoint, message, now=now)
        else:
            message.next_attempt_at = now + timedelta(seconds=delay)
    message.save(
        update_fields=[
            "status",
            "next_attempt_at",
            "finished_at",
            "last_status_code",
            "last_error_code",
            "last_error_params",
        ]
    )
    return attempt


def _maybe_disable_failing(endpoint: WebhookEndpoint, message: WebhookMessage, *, now) -> None:
    """A message used all its retries (about three days). If nothing at all reached the
    endpoint in that time, it is down: disable it and tell the people who manage it."""
    first = message.attempts.order_by("number").values_list("created_at", flat=True).first()
    since = first or message.created_at
    if endpoint.last_success_at is not None and endpoint.last_success_at >= since:
        return
    endpoint_disable_in_transaction(
        endpoint=endpoint,
        reason="repeated_failures",
        params={"since": moment(since)},
    )


def messages_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Ids of messages whose attempt is due (new ones the on-commit task missed, retries,
    and claims that ran out)."""
    now = now or timezone.now()
    return list(
        WebhookMessage.objects.filter(
            Q(status=WebhookMessage.Status.PENDING) & Q(next_attempt_at__lte=now)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
