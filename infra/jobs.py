"""GPU jobs: submit, poll, cancel and settle, paid by a hold on the wallet (docs/gpu_jobs.md).

The money rules, in one place:

* **Submit.** The job's hold is placed before anything reaches the provider: the execution
  timeout × GPU count × the highest per-second rate among the deployment's GPU types (a
  serverless model: its per-call price, or its per-second rate × ``max_seconds``). Too
  little available is a 402 and nothing is queued. The hold expires with the job:
  ``timeout_at`` (execution timeout + ``GPU_JOB_QUEUE_SECONDS`` after submit) plus
  ``GPU_JOB_HOLD_GRACE_SECONDS``.
* **Settle** (``job_settle``) runs once per job, whoever gets there first (a poll, the beat
  poller, the provider's callback, a cancel): the job's hold and then the job are locked,
  in that order everywhere, and a settled job is never settled again. Succeeded: the
  reported execution time × GPU count × the rate of the GPU that ran it, rounded down to
  the µcr and capped at the hold; the rest is released. Failed or timed out: the whole
  hold is released. Cancelled: the executed time is charged (none when still queued).
* **Expiry.** A hold that expires tells its job (``billing.signals.hold_expired``, in the
  expiry's transaction): the job is marked timed out, nothing is charged. A settlement
  that finds its hold past expiry does the same, so the outcome never depends on which
  of the two ran first.
* Every settled job that an API key submitted is one usage event (endpoint ``gpu``) at
  the charged cost, recorded without a second debit (the hold's capture is the charge).

Provider errors never lose a job or its hold: a failed submit or poll is kept on the job
(``provider_error``), and the beat poller retries with exponential backoff until the job
settles or times out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apikeys.caps import usage_key_by_pk
from billing.ledger import (
    hold_capture_in_transaction,
    hold_place,
    hold_release,
    hold_release_in_transaction,
    wallet_get_or_create,
)
from billing.models import CatalogModel, Hold
from billing.signals import hold_expired
from hypereal_site.api.errors import ApplicationError
from hypereal_site.ids import new_public_id
from hypereal_site.text import text_problem
from usage.ingest import UNIT_FIELDS, UNIT_LIMITS, Event, Priced, usage_record_in_transaction
from usage.partitions import partitions_ensure_for

from . import providers
from .models import (
    JOB_CANCELLED,
    JOB_CANCELLED_EARLY,
    JOB_HOLD_EXPIRED,
    JOB_TIMED_OUT,
    PROVIDER_REFUSED,
    Deployment,
    GpuJob,
    GpuType,
    ServerlessGpuModel,
)
from .providers.base import JOB_STATES, GpuProvider, JobState, ProviderError
from .signals import gpu_job_finished

logger = logging.getLogger("hypereal.infra")

Status = GpuJob.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)
#: The status code a job's usage event carries, per final state.
EVENT_STATUS_CODES = {
    Status.SUCCEEDED: 200,
    Status.FAILED: 500,
    Status.CANCELED: 499,
    Status.TIMED_OUT: 504,
}
#: How often the beat poller asks about a job that is fine (it also runs every 15 s).
POLL_INTERVAL_SECONDS = 10
#: A submit in progress holds the job this long against other submitters.
SUBMIT_CLAIM_SECONDS = 60


def provider() -> GpuProvider:
    """The configured provider (``GPU_PROVIDER``: RunPod, or its simulator)."""
    return providers.get_provider()


# --- prices -------------------------------------------------------------------------------


def deployment_rates(deployment: Deployment) -> dict[str, int]:
    """The deployment's GPU types (code → µcr per second), in its priority order."""
    found = dict(
        GpuType.objects.filter(code__in=deployment.gpu_types).values_list(
            "code", "microcredits_per_second"
        )
    )
    return {code: found[code] for code in deployment.gpu_types if code in found}


def deployment_hold_amount(deployment: Deployment) -> int:
    """µcr held per job: execution timeout × GPU count × the highest allowed rate."""
    rates = deployment_rates(deployment)
    if not rates:
        raise ApplicationError(
            "deployment_misconfigured", _("The deployment has no known GPU type."), status=409
        )
    return deployment.execution_timeout_seconds * deployment.gpu_count * max(rates.values())


def gpu_charge(*, execution_ms: int, gpu_count: int, rate: int) -> int:
    """µcr for ``execution_ms`` on ``gpu_count`` GPUs at ``rate`` µcr/s, rounded down."""
    return max(0, int(execution_ms)) * int(gpu_count) * int(rate) // 1000


def serverless_max_seconds(model: ServerlessGpuModel) -> int:
    return model.catalog_model.max_seconds or settings.GPU_SERVERLESS_DEFAULT_TIMEOUT_SECONDS


def serverless_hold_amount(model: ServerlessGpuModel) -> int:
    price = model.catalog_model
    if price.pricing == CatalogModel.Pricing.PER_SECOND:
        return price.unit_microcredits * serverless_max_seconds(model)
    return price.unit_microcredits


def serverless_charge(model: ServerlessGpuModel, *, outcome: str, execution_ms: int) -> int:
    """Per second: the executed time capped at ``max_seconds`` (succeeded or cancelled
    while running). Per call: the price, on success only."""
    price = model.catalog_model
    if price.pricing == CatalogModel.Pricing.PER_SECOND:
        capped = min(max(0, execution_ms), serverless_max_seconds(model) * 1000)
        return gpu_charge(execution_ms=capped, gpu_count=1, rate=price.unit_microcredits)
    return price.unit_microcredits if outcome == Status.SUCCEEDED else 0


# --- input and output -----------------------------------------------------------------------


class OutputRefused(Exception):
    pass


def check_input(job_input: Any) -> dict:
    if not isinstance(job_input, dict):
        raise ApplicationError("invalid_request", _("input must be a JSON object."))
    size = len(json.dumps(job_input, ensure_ascii=False).encode())
    if size > settings.GPU_JOB_INPUT_MAX_BYTES:
        raise ApplicationError(
            "input_too_large",
            _("input is %(size)s bytes; the limit is %(limit)s.")
            % {"size": size, "limit": settings.GPU_JOB_INPUT_MAX_BYTES},
            status=413,
        )
    for text in _walk_strings(job_input, keys=True):
        problem = text_problem(text)  # what PostgreSQL's jsonb would refuse (NUL, surrogates)
        if problem is not None:
            raise ApplicationError(
                "invalid_request", _("input: a string %(problem)s.") % {"problem": _(problem)}
            )
    return job_input


def _walk_strings(value: Any, depth: int = 0, *, keys: bool = False):
    if depth > 64:
        raise OutputRefused("The output is nested too deeply.")
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if keys:
                yield str(key)
            yield from _walk_strings(item, depth + 1, keys=keys)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_strings(item, depth + 1, keys=keys)


def stored_output(output: Any) -> Any:
    """The output as stored with the job, or ``OutputRefused`` with a clear reason."""
    if output is None:
        return None
    limit = settings.GPU_JOB_DATA_URL_MAX_BYTES
    for text in _walk_strings(output):
        if text[:5].lower() == "data:" and len(text) > limit:
            raise OutputRefused(
                f"The output holds a data: URL of {len(text)} bytes; the limit is {limit}. "
                "Upload the file (e.g. to object storage) and return its URL instead."
            )
        problem = text_problem(text)
        if problem is not None:
            raise OutputRefused(f"The output holds a string that {problem}.")
    size = len(json.dumps(output, ensure_ascii=False).encode())
    if size > settings.GPU_JOB_OUTPUT_MAX_BYTES:
        raise OutputRefused(
            f"The output is {size} bytes; the limit is {settings.GPU_JOB_OUTPUT_MAX_BYTES}. "
            "Return URLs to large files instead."
        )
    return output


# --- callback tokens --------------------------------------------------------------------------


def callback_token(job: GpuJob) -> str:
    """The secret in the job's callback URL: an HMAC of the job (never stored)."""
    message = f"gpu-job-callback:{job.public_id}:{job.callback_nonce}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def callback_token_valid(job: GpuJob, token: str) -> bool:
    return bool(token) and hmac.compare_digest(callback_token(job), str(token))


def callback_url(job: GpuJob) -> str:
    path = reverse("gpu_job_callback", args=[job.public_id])
    return f"{settings.GPU_CALLBACK_BASE_URL}{path}?token={callback_token(job)}"


# --- submit -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    organization_id: int
    endpoint_id: str
    hold_amount: int
    execution_timeout_seconds: int
    gpu_type: str
    gpu_count: int
    deployment: Deployment | None = None
    serverless_model: ServerlessGpuModel | None = None


def _deployment_target(deployment: Deployment) -> Target:
    if deployment.status != Deployment.Status.READY:
        raise ApplicationError(
            "deployment_not_ready",
            _("Deployment %(slug)s is %(status)s, not ready.")
            % {"slug": repr(deployment.slug), "status": deployment.status},
            status=409,
        )
    return Target(
        organization_id=deployment.organization_id,
        endpoint_id=deployment.provider_endpoint_id,
        hold_amount=deployment_hold_amount(deployment),
        execution_timeout_seconds=deployment.execution_timeout_seconds,
        gpu_type=deployment.gpu_types[0] if deployment.gpu_types else "",
        gpu_count=deployment.gpu_count,
        deployment=deployment,
    )


def _serverless_target(model: ServerlessGpuModel, organization_id: int) -> Target:
    return Target(
        organization_id=organization_id,
        endpoint_id=model.provider_endpoint_id or model.slug,
        hold_amount=serverless_hold_amount(model),
        execution_timeout_seconds=serverless_max_seconds(model),
        gpu_type="",
        gpu_count=1,
        serverless_model=model,
    )


def job_submit(
    *,
    job_input: dict,
    deployment: Deployment | None = None,
    serverless_model: ServerlessGpuModel | None = None,
    organization=None,
    api_key=None,
    actor=None,
) -> GpuJob:
    """Hold the job's credits, record the job, hand it to the provider.

    402 ``insufficient_credits`` (nothing recorded) when the wallet cannot hold it. A
    provider error leaves the job queued with its hold and the error on it; the beat
    poller submits it again (docs/gpu_jobs.md).
    """
    check_input(job_input)
    if deployment is not None:
        target = _deployment_target(deployment)
        organization = deployment.organization
    else:
        target = _serverless_target(serverless_model, organization.pk)
    public_id = new_public_id()
    now = timezone.now()
    timeout_at = now + timedelta(
        seconds=target.execution_timeout_seconds + settings.GPU_JOB_QUEUE_SECONDS
    )
    hold = None
    if target.hold_amount > 0:
        hold, _created = hold_place(
            wallet=wallet_get_or_create(organization=organization),
            amount_microcredits=target.hold_amount,
            reference=f"gpujob:{public_id}",
            expires_in_seconds=int((timeout_at - now).total_seconds())
            + settings.GPU_JOB_HOLD_GRACE_SECONDS,
            key=api_key,
        )
    try:
        with transaction.atomic():
            job = GpuJob.objects.create(
                public_id=public_id,
                organization=organization,
                deployment=target.deployment,
                serverless_model=target.serverless_model,
                api_key=api_key,
                created_by=actor,
                hold=hold,
                input=job_input,
                gpu_type=target.gpu_type,
                gpu_count=target.gpu_count,
                created_at=now,
                timeout_at=timeout_at,
                callback_nonce=secrets.token_hex(16),
                # Claimed for this submit: no poller resubmits it meanwhile.
                next_check_at=now + timedelta(seconds=SUBMIT_CLAIM_SECONDS),
            )
    except Exception:
        if hold is not None:
            hold_release(hold=hold)
        raise
    return _provider_submit(job)


def _endpoint_id(job: GpuJob) -> str:
    if job.deployment_id:
        return job.deployment.provider_endpoint_id
    return job.serverless_model.provider_endpoint_id or job.serverless_model.slug


def _execution_timeout(job: GpuJob) -> int:
    if job.deployment_id:
        return job.deployment.execution_timeout_seconds
    return serverless_max_seconds(job.serverless_model)


def _provider_submit(job: GpuJob) -> GpuJob:
    try:
        state = provider().run(
            _endpoint_id(job),
            {"input": job.input},
            webhook_url=callback_url(job),
            execution_timeout_seconds=_execution_timeout(job),
        )
    except ProviderError as exc:
        if exc.retryable:
            return _record_provider_error(job, exc)
        return job_settle(job=job, outcome=Status.FAILED, error=f"{PROVIDER_REFUSED}{exc}")
    if not state.provider_job_id:
        return _record_provider_error(
            job, ProviderError("The provider answered without a job id.", retryable=True)
        )
    return job_apply_state(job=job, state=state)


def _backoff_seconds(failures: int) -> float:
    base = settings.GPU_JOB_RETRY_BASE_SECONDS * 2 ** max(0, failures - 1)
    return min(base, settings.GPU_JOB_RETRY_MAX_SECONDS)


def _record_provider_error(job: GpuJob, exc: ProviderError) -> GpuJob:
    with transaction.atomic():
        locked = GpuJob.objects.select_for_update().get(pk=job.pk)
        if locked.status in GpuJob.FINAL:
            return locked
        locked.provider_failures += 1
        locked.provider_error = str(exc)[:500]
        locked.next_check_at = timezone.now() + timedelta(
            seconds=_backoff_seconds(locked.provider_failures)
        )
        locked.save(update_fields=["provider_failures", "provider_error", "next_check_at"])
    logger.warning("gpu job %s: provider error: %s", job.public_id, exc)
    return locked


# --- states -----------------------------------------------------------------------------------


def job_apply_state(*, job: GpuJob, state: JobState) -> GpuJob:
    """Move the job to what the provider reports (only through ``JOB_STATES``); a final
    state settles it. An unknown state is a malformed answer (kept, retried)."""
    status = JOB_STATES.get(state.status)
    if status is None:
        return _record_provider_error(
            job,
            ProviderError(
                f"The provider reported an unknown state {state.status!r}.", retryable=True
            ),
        )
    if status in GpuJob.FINAL:
        return job_settle(
            job=job,
            outcome=status,
            execution_ms=state.execution_ms,
            gpu_type_id=state.gpu_type_id,
            output=state.output,
            error=state.error,
            provider_job_id=state.provider_job_id,
        )
    now = timezone.now()
    with transaction.atomic():
        locked = GpuJob.objects.select_for_update().get(pk=job.pk)
        if locked.status in GpuJob.FINAL:
            return locked
        if state.provider_job_id and not locked.provider_job_id:
            locked.provider_job_id = state.provider_job_id[:100]
        if status == Status.RUNNING:
            locked.status = Status.RUNNING
            locked.started_at = locked.started_at or now
        locked.provider_error = ""
        locked.provider_failures = 0
        locked.next_check_at = now + timedelta(seconds=POLL_INTERVAL_SECONDS)
        locked.save(
            update_fields=[
                "provider_job_id",
                "status",
                "started_at",
                "provider_error",
                "provider_failures",
                "next_check_at",
            ]
        )
    return locked


def _ran_on(job: GpuJob, gpu_type_id: str | None, rates: dict[str, int]) -> str:
    """The GpuType code the job ran on: the provider's GPU id mapped through
    ``GpuType.provider_gpu_id`` when it is one of the deployment's types; otherwise
    (unknown, or not reported) the deployment's first-priority type."""
    if gpu_type_id:
        code = (
            GpuType.objects.filter(provider_gpu_id=gpu_type_id, code__in=list(rates))
            .values_list("code", flat=True)
            .first()
        )
        if code:
            return code
    return next(iter(rates), job.gpu_type)


def _charge(
    job: GpuJob, *, outcome: str, execution_ms: int, gpu_type_id: str | None
) -> tuple[int, str]:
    """(µcr the outcome costs before the cap, the GPU type code that ran it)."""
    if outcome in (Status.FAILED, Status.TIMED_OUT):
        return 0, job.gpu_type
    if job.serverless_model_id:
        return serverless_charge(
            job.serverless_model, outcome=outcome, execution_ms=execution_ms
        ), ""
    rates = deployment_rates(job.deployment)
    code = _ran_on(job, gpu_type_id, rates)
    rate = rates.get(code)
    if rate is None:  # the deployment's types changed since: the rate copied into the hold
        return job.hold.amount_microcredits if job.hold_id else 0, code
    return gpu_charge(execution_ms=execution_ms, gpu_count=job.gpu_count, rate=rate), code


HOLD_EXPIRED_ERROR = JOB_HOLD_EXPIRED


def job_settle(
    *,
    job: GpuJob,
    outcome: str,
    execution_ms: int | None = None,
    gpu_type_id: str | None = None,
    output: Any = None,
    error: str = "",
    provider_job_id: str = "",
) -> GpuJob:
    """Settle the job once: capture or release its hold, store the outcome, record the
    usage event and tell the webhooks (``gpu_job_finished``). A second call is a no-op
    that answers the settled job."""
    if outcome not in GpuJob.FINAL:
        raise ValueError(f"{outcome!r} is not a final state")
    now = timezone.now()
    if not connection.in_atomic_block:
        partitions_ensure_for([now])  # the usage event's month, committed before
    with transaction.atomic():
        # Lock order everywhere: the hold, then the job (the hold's expiry takes them so).
        hold = Hold.objects.select_for_update().get(pk=job.hold_id) if job.hold_id else None
        locked = (
            GpuJob.objects.select_for_update(of=("self",))
            .select_related("deployment", "serverless_model__catalog_model")
            .get(pk=job.pk)
        )
        if locked.settled_at is not None:
            return locked
        locked.hold = hold
        if hold is not None and (hold.status != Hold.Status.OPEN or hold.expires_at <= now):
            outcome, error, output = Status.TIMED_OUT, HOLD_EXPIRED_ERROR, None
        if outcome == Status.SUCCEEDED:
            try:
                output = stored_output(output)
            except OutputRefused as exc:
                outcome, error, output = Status.FAILED, str(exc), None
        else:
            try:
                output = stored_output(output)
            except OutputRefused:
                output = None
        ran_ms = _executed_ms(locked, outcome, execution_ms, now)
        amount, ran_on = _charge(
            locked, outcome=outcome, execution_ms=ran_ms, gpu_type_id=gpu_type_id
        )
        if hold is not None:
            amount = min(amount, hold.amount_microcredits)
            if hold.status == Hold.Status.OPEN:
                if amount > 0:
                    hold_capture_in_transaction(
                        hold=hold,
                        amount_microcredits=amount,
                        description=f"GPU job {locked.public_id}",
                    )
                else:
                    hold_release_in_transaction(hold=hold)
            else:
                amount = 0
        else:
            amount = 0
        locked.status = outcome
        locked.execution_ms = ran_ms if ran_ms or execution_ms is not None else None
        locked.charged_microcredits = amount
        locked.gpu_type = ran_on or locked.gpu_type
        locked.output = output
        locked.error = (error or "")[:1000]
        if provider_job_id and not locked.provider_job_id:
            locked.provider_job_id = provider_job_id[:100]
        if outcome == Status.SUCCEEDED:
            # A transient provider error retried on the way is history once the provider
            # reports success: shown on a succeeded job it would read as a fault. (A job that
            # failed or timed out keeps it: it may be why.)
            locked.provider_error = ""
            locked.provider_failures = 0
        locked.finished_at = now
        locked.settled_at = now
        locked.next_check_at = None
        locked.save()
        _record_usage(locked)
        gpu_job_finished.send(sender=GpuJob, job=locked)
    return locked


def _executed_ms(job: GpuJob, outcome: str, execution_ms: int | None, now) -> int:
    if execution_ms is not None:
        try:
            return max(0, min(int(execution_ms), 7 * 24 * 3600 * 1000))
        except (TypeError, ValueError):
            return 0
    if outcome == Status.CANCELED and job.status == Status.RUNNING and job.started_at:
        # The provider did not say: what we saw of it running (from our first sight).
        return int((now - job.started_at).total_seconds() * 1000)
    return 0


def _record_usage(job: GpuJob) -> None:
    """The job's usage event (endpoint ``gpu``) at the charged cost, not charged again."""
    if not job.api_key_id:
        return  # a test job run from the console: the ledger entry is its record
    key = usage_key_by_pk(job.api_key_id)
    if key is None:
        return
    units = dict.fromkeys(UNIT_FIELDS, 0)
    units["requests"] = 1
    units["seconds"] = min(math.ceil((job.execution_ms or 0) / 1000), UNIT_LIMITS["seconds"])
    model = job.deployment.slug if job.deployment_id else job.serverless_model.slug
    latency = int((job.finished_at - job.created_at).total_seconds() * 1000)
    event = Event(
        index=0,
        request_id=f"gpujob:{job.public_id}",
        key_public_id=key["public_id"],
        occurred_at=job.finished_at,
        endpoint="gpu",
        model=model,
        provider="hypereal-gpu",
        status_code=EVENT_STATUS_CODES[job.status],
        latency_ms=max(0, min(latency, 86_400_000)),
        units=units,
        tier="",
    )
    usage_record_in_transaction(
        [Priced(event=event, key=key, model=model, cost=job.charged_microcredits or 0)],
        charge=False,
        reference=job.hold.public_id if job.hold_id else job.public_id,
    )


@receiver(hold_expired, dispatch_uid="infra.jobs.hold_expired")
def _hold_expired(sender, hold: Hold, **kwargs) -> None:
    """A job's hold expired (in the expiry's transaction): the job is timed out and
    charged nothing; the provider is asked to cancel it after commit."""
    job = (
        GpuJob.objects.select_for_update(of=("self",))
        .select_related("deployment", "serverless_model")
        .filter(hold_id=hold.pk)
        .first()
    )
    if job is None or job.settled_at is not None:
        return
    now = timezone.now()
    was_active = job.status in ACTIVE and job.provider_job_id
    job.hold = hold
    job.status = Status.TIMED_OUT
    job.charged_microcredits = 0
    job.error = HOLD_EXPIRED_ERROR
    job.finished_at = now
    job.settled_at = now
    job.next_check_at = None
    job.save()
    _record_usage(job)
    gpu_job_finished.send(sender=GpuJob, job=job)
    if was_active:
        transaction.on_commit(lambda: _cancel_quietly(job))


def _cancel_quietly(job: GpuJob) -> None:
    try:
        provider().cancel(_endpoint_id(job), job.provider_job_id)
    except ProviderError as exc:
        logger.warning("gpu job %s: cancel after expiry failed: %s", job.public_id, exc)


# --- poll, cancel, poller ---------------------------------------------------------------------


def job_refresh(*, job: GpuJob) -> GpuJob:
    """Ask the provider about a job that is not final (a live poll) and apply the answer.
    A job past ``timeout_at`` is timed out; one that never reached the provider is
    submitted again once its backoff allows."""
    if job.settled_at is not None or job.status in GpuJob.FINAL:
        return job
    now = timezone.now()
    if job.timeout_at <= now:
        return _time_out(job)
    if not job.provider_job_id:
        if _claim_submit(job, now):
            return _provider_submit(job)
        return GpuJob.objects.select_related(*JOB_RELATED).get(pk=job.pk)
    try:
        state = provider().status(_endpoint_id(job), job.provider_job_id)
    except ProviderError as exc:
        return _record_provider_error(job, exc)
    return job_apply_state(job=job, state=state)


def _claim_submit(job: GpuJob, now) -> bool:
    """Take the right to (re)submit a job that has no provider id yet, once its backoff
    has passed: one conditional UPDATE, so racing pollers submit it once."""
    return bool(
        GpuJob.objects.filter(pk=job.pk, provider_job_id="", settled_at__isnull=True)
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .update(next_check_at=now + timedelta(seconds=SUBMIT_CLAIM_SECONDS))
    )


def _time_out(job: GpuJob) -> GpuJob:
    """Past ``timeout_at``: one last look (a job that did finish is settled as it
    finished), else cancel it at the provider and refund it as timed out."""
    if job.provider_job_id:
        try:
            state = provider().status(_endpoint_id(job), job.provider_job_id)
            if JOB_STATES.get(state.status) in GpuJob.FINAL:
                return job_apply_state(job=job, state=state)
        except ProviderError:
            pass
        _cancel_quietly(job)
    return job_settle(
        job=job,
        outcome=Status.TIMED_OUT,
        error=JOB_TIMED_OUT,
    )


def job_cancel(*, job: GpuJob, actor=None) -> GpuJob:
    """Cancel a job. Still queued: a full refund. Running: the executed time is charged.
    A job that finished meanwhile is settled as it finished. Final already: 409."""
    if job.settled_at is not None or job.status in GpuJob.FINAL:
        raise ApplicationError(
            "job_finished",
            _("Job %(id)s is already %(status)s.") % {"id": job.public_id, "status": job.status},
            status=409,
        )
    if not job.provider_job_id:
        return job_settle(job=job, outcome=Status.CANCELED, error=JOB_CANCELLED_EARLY)
    endpoint = _endpoint_id(job)
    try:
        state = provider().cancel(endpoint, job.provider_job_id)
    except ProviderError as exc:
        _record_provider_error(job, exc)
        raise ApplicationError(
            "provider_unavailable",
            _("The GPU provider did not take the cancellation (%(error)s); try again.")
            % {"error": exc},
            status=503,
        ) from None
    status = JOB_STATES.get(state.status)
    if status in GpuJob.FINAL and status != Status.CANCELED:
        return job_apply_state(job=job, state=state)
    if state.execution_ms is None:
        try:  # the cancel answer carries no timing; the status does, once cancelled
            detail = provider().status(endpoint, job.provider_job_id)
            if detail.execution_ms is not None:
                state = detail
        except ProviderError:
            pass
    return job_settle(
        job=job,
        outcome=Status.CANCELED,
        execution_ms=state.execution_ms,
        gpu_type_id=state.gpu_type_id,
        error=JOB_CANCELLED,
    )


def job_wait(*, job: GpuJob, seconds: float) -> GpuJob:
    """Poll the provider until the job is final or ``seconds`` have passed (``sync``)."""
    deadline = time.monotonic() + max(0.0, seconds)
    job = job_refresh(job=job)
    while job.status not in GpuJob.FINAL and time.monotonic() < deadline:
        time.sleep(min(settings.GPU_JOB_SYNC_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        job = job_refresh(job=GpuJob.objects.select_related(*JOB_RELATED).get(pk=job.pk))
    return job


JOB_RELATED = ("deployment", "serverless_model__catalog_model", "hold")


def jobs_poll_due(*, now=None, limit: int = 200) -> int:
    """The beat poller: every job not final whose next check is due (or that is past its
    timeout) is polled, submitted again, timed out or settled. Returns how many."""
    now = now or timezone.now()
    due = list(
        GpuJob.objects.select_related(*JOB_RELATED)
        .filter(status__in=ACTIVE, settled_at__isnull=True)
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now) | Q(timeout_at__lte=now))
        .order_by("next_check_at")[:limit]
    )
    for job in due:
        try:
            job_refresh(job=job)
        except Exception:  # one job's trouble never stops the others
            logger.exception("gpu job %s: poll failed", job.public_id)
    return len(due)


def job_callback(*, job: GpuJob, body: Any) -> GpuJob:
    """The provider POSTed the job's status (RunPod sends the ``/status`` JSON to the
    job's webhook URL). The body is only a notice: it names the worker, not the GPU, so
    the job is settled from the provider's own ``status()`` answer, which reports the GPU
    that ran it (and confirms the body's state and times). A body that is not about this
    job makes a live poll instead."""
    if job.settled_at is not None:
        return job
    claimed = state_from_status_body(body)
    # The token proves the job is ours: a callback may even arrive before /run's answer,
    # and then the body is how we learn the provider's id of the job.
    if claimed is None or claimed.provider_job_id != (
        job.provider_job_id or claimed.provider_job_id
    ):
        return job_refresh(job=job)
    if not job.provider_job_id:
        job = _adopt_provider_job_id(job, claimed.provider_job_id)
    try:
        state = provider().status(_endpoint_id(job), claimed.provider_job_id)
    except ProviderError as exc:
        # Not settled from an unconfirmed body (it would bill the wrong GPU): the poller
        # asks ``status()`` again after the backoff.
        return _record_provider_error(job, exc)
    return job_apply_state(job=job, state=state)


def _adopt_provider_job_id(job: GpuJob, provider_job_id: str) -> GpuJob:
    """Store the provider's id of a job whose ``/run`` answer never reached us, so the
    poller follows that job instead of submitting it a second time."""
    GpuJob.objects.filter(pk=job.pk, provider_job_id="").update(
        provider_job_id=provider_job_id[:100]
    )
    return GpuJob.objects.select_related(*JOB_RELATED).get(pk=job.pk)


def state_from_status_body(body: Any) -> JobState | None:
    """RunPod's status JSON (``id``, ``status``, ``output``, ``error``, ``executionTime``
    and ``delayTime`` in ms) as a ``JobState``, or None when it is not that shape."""
    if not isinstance(body, dict):
        return None
    job_id, status = body.get("id"), body.get("status")
    if not isinstance(job_id, str) or status not in JOB_STATES:
        return None

    def _ms(name: str) -> int | None:
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            return None
        return int(min(value, 7 * 24 * 3600 * 1000))

    error = body.get("error")
    gpu = body.get("gpuTypeId") or body.get("gpu_type_id")
    return JobState(
        provider_job_id=job_id,
        status=status,
        output=body.get("output"),
        error=error if isinstance(error, str) else (json.dumps(error)[:1000] if error else ""),
        execution_ms=_ms("executionTime"),
        delay_ms=_ms("delayTime"),
        gpu_type_id=gpu if isinstance(gpu, str) else None,
    )


def job_outputs_prune(*, now=None) -> int:
    """Clear the outputs of jobs finished longer ago than the retention period."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.GPU_JOB_OUTPUT_RETENTION_DAYS)
    return GpuJob.objects.filter(finished_at__lt=cutoff, output__isnull=False).update(output=None)
