"""The RunPod adapter: ``GpuProvider`` over RunPod's HTTP APIs (docs/gpu_provider.md).

Two APIs, one key (``Authorization: Bearer <RUNPOD_API_KEY>``):

* endpoints are managed through the REST API (``RUNPOD_REST_URL``, ``https://rest.runpod.io/v1``):
  a deployment is one serverless **template** (``imageName``, ``env``) and one **endpoint**
  using it (``templateId``, ``gpuTypeIds``, ``gpuCount``, ``workersMin``/``workersMax``,
  ``idleTimeout``, ``executionTimeoutMs``);
* jobs go through the serverless API (``RUNPOD_API_URL``, ``https://api.runpod.ai/v2``):
  ``POST /{endpoint}/run``, ``GET /{endpoint}/status/{job}``, ``POST /{endpoint}/cancel/{job}``,
  ``GET /{endpoint}/health``.

Errors are ``ProviderError``: timeouts, connection errors, 429 and 5xx are ``retryable``; 4xx
and answers that are not the JSON we expect are not. The adapter never retries by itself (a
``run`` retried blindly could start a job twice): the callers keep the job and its hold and
retry with backoff.

Which GPU ran a job: RunPod's status answer names the ``workerId`` (a worker is a pod). The
adapter looks the worker up in the endpoint's worker list
(``GET /endpoints/{id}?includeWorkers=true``, each worker's ``machine.gpuTypeId``, else
``gpu.id``) and caches the answer (a worker never changes GPU). When the worker is gone from
the list the endpoint's only GPU type is used if it has one; otherwise ``gpu_type_id`` is
None. A failed lookup never fails ``status()``: it answers None too.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any
from urllib.parse import quote

import urllib3
from django.core.cache import cache
from urllib3.exceptions import HTTPError
from urllib3.exceptions import TimeoutError as HTTPTimeoutError

from .base import EndpointHealth, EndpointSpec, JobState, ProviderError

logger = logging.getLogger(__name__)

#: The raw states RunPod answers (base.JOB_STATES maps them); anything else is malformed.
KNOWN_STATES = frozenset(
    {"IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}
)
WORKER_GPU_CACHE_SECONDS = 24 * 3600
WORKER_GPU_UNKNOWN_CACHE_SECONDS = 60
#: RunPod refuses an execution timeout below 5 s.
MIN_EXECUTION_TIMEOUT_MS = 5_000
#: Serverless workers need disk for the image's layers; RunPod's default is small.
CONTAINER_DISK_GB = 20


class RunPodProvider:
    def __init__(
        self,
        *,
        api_key: str,
        api_url: str,
        rest_url: str,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_response_bytes: int = 64 * 1024 * 1024,
    ):
        self.max_response_bytes = max_response_bytes
        self.api_key = api_key
        self.api_url = api_url.rstrip("/")
        self.rest_url = rest_url.rstrip("/")
        self.timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        # retries=False: one request is one attempt (see the module docstring).
        self.http = urllib3.PoolManager(retries=False, timeout=self.timeout, maxsize=8)

    # -- HTTP ------------------------------------------------------------------------------

    def _request(self, method: str, url: str, body: Any = None, *, what: str) -> Any:
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = self.http.request(
                method, url, body=data, headers=headers, redirect=False, preload_content=False
            )
            raw = self._read(response, what)
        except HTTPTimeoutError as exc:
            raise ProviderError(f"RunPod did not answer in time ({what}).", retryable=True) from exc
        except HTTPError as exc:
            raise ProviderError(
                f"Could not reach RunPod ({what}): {type(exc).__name__}.", retryable=True
            ) from exc
        status = response.status
        if status == 204 or (200 <= status < 300 and not raw):
            return None
        if status >= 300:
            retryable = status == 429 or status >= 500
            raise ProviderError(
                f"RunPod answered {status} ({what}){_error_text(raw)}.",
                retryable=retryable,
                status=status,
            )
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise ProviderError(
                f"RunPod's answer is not usable JSON ({what}).", retryable=False, status=status
            ) from exc

    def _read(self, response, what: str) -> bytes:
        """The body, refused past ``max_response_bytes`` (a job's output is stored by us
        up to a smaller limit; this only keeps one answer from exhausting a worker)."""
        chunks, size = [], 0
        try:
            for chunk in response.stream(65536):
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise ProviderError(
                        f"RunPod's answer is larger than {self.max_response_bytes} bytes ({what}).",
                        retryable=False,
                        status=response.status,
                    )
                chunks.append(chunk)
        except BaseException:
            response.close()  # never hand a half-read connection back to the pool
            raise
        response.release_conn()
        return b"".join(chunks)

    def _rest(self, method: str, path: str, body: Any = None, *, what: str) -> Any:
        return self._request(method, f"{self.rest_url}{path}", body, what=what)

    def _serverless(self, method: str, endpoint_id: str, path: str, body=None, *, what: str):
        return self._request(
            method, f"{self.api_url}/{_segment(endpoint_id)}{path}", body, what=what
        )

    # -- endpoints -------------------------------------------------------------------------

    def _endpoint_body(self, spec: EndpointSpec) -> dict:
        return {
            "name": spec.name[:191],
            "gpuTypeIds": list(spec.gpu_type_ids),
            "gpuCount": spec.gpu_count,
            "workersMin": spec.min_workers,
            "workersMax": spec.max_workers,
            "idleTimeout": spec.idle_timeout_seconds,
            "executionTimeoutMs": max(
                spec.execution_timeout_seconds * 1000, MIN_EXECUTION_TIMEOUT_MS
            ),
        }

    def create_endpoint(self, spec: EndpointSpec) -> str:
        # RunPod template names are unique per account: a suffix keeps two deployments of the
        # same name apart.
        template = _object(
            self._rest(
                "POST",
                "/templates",
                {
                    "name": f"{spec.name[:180]}-{secrets.token_hex(4)}",
                    "imageName": spec.docker_image,
                    "env": dict(spec.env),
                    "isServerless": True,
                    "containerDiskInGb": CONTAINER_DISK_GB,
                },
                what="create template",
            ),
            "create template",
        )
        template_id = _string(template, "id", "create template")
        try:
            endpoint = _object(
                self._rest(
                    "POST",
                    "/endpoints",
                    {"templateId": template_id, **self._endpoint_body(spec)},
                    what="create endpoint",
                ),
                "create endpoint",
            )
            return _string(endpoint, "id", "create endpoint")
        except ProviderError:
            self._delete_template_quietly(template_id)
            raise

    def _get_endpoint(
        self, endpoint_id: str, *, workers: bool = False, template: bool = False
    ) -> dict:
        flags = [("includeWorkers", workers), ("includeTemplate", template)]
        query = "&".join(f"{name}=true" for name, wanted in flags if wanted)
        return _object(
            self._rest(
                "GET",
                f"/endpoints/{_segment(endpoint_id)}{'?' + query if query else ''}",
                what="read endpoint",
            ),
            "read endpoint",
        )

    def update_endpoint(self, endpoint_id: str, spec: EndpointSpec) -> None:
        """Change the endpoint; the template only when the image or the environment
        changed, because every template update rolls out a new release (new workers)."""
        endpoint = self._get_endpoint(endpoint_id, template=True)
        template_id = _string(endpoint, "templateId", "read endpoint")
        template = endpoint.get("template") if isinstance(endpoint.get("template"), dict) else {}
        if template.get("imageName") != spec.docker_image or (template.get("env") or {}) != dict(
            spec.env
        ):
            self._rest(
                "PATCH",
                f"/templates/{_segment(template_id)}",
                {"imageName": spec.docker_image, "env": dict(spec.env)},
                what="update template",
            )
        self._rest(
            "PATCH",
            f"/endpoints/{_segment(endpoint_id)}",
            self._endpoint_body(spec),
            what="update endpoint",
        )

    def delete_endpoint(self, endpoint_id: str) -> None:
        """Delete the endpoint and its template. An endpoint RunPod no longer knows counts as
        deleted, so a retried delete succeeds."""
        try:
            endpoint = self._get_endpoint(endpoint_id)
        except ProviderError as exc:
            if exc.status == 404:
                return
            raise
        template_id = endpoint.get("templateId")
        # RunPod asks for the workers to be scaled to zero before an endpoint is deleted.
        self._rest(
            "PATCH",
            f"/endpoints/{_segment(endpoint_id)}",
            {"workersMin": 0, "workersMax": 0},
            what="scale endpoint down",
        )
        try:
            self._rest("DELETE", f"/endpoints/{_segment(endpoint_id)}", what="delete endpoint")
        except ProviderError as exc:
            if exc.status != 404:
                raise
        if isinstance(template_id, str) and template_id:
            self._delete_template_quietly(template_id)

    def _delete_template_quietly(self, template_id: str) -> None:
        # An orphan template costs nothing; failing the caller over it would be worse.
        try:
            self._rest("DELETE", f"/templates/{_segment(template_id)}", what="delete template")
        except ProviderError as exc:
            logger.warning("gpu.provider.template_not_deleted", extra={"error": str(exc)})

    # -- jobs ------------------------------------------------------------------------------

    def run(
        self,
        endpoint_id: str,
        payload: dict,
        *,
        webhook_url: str | None = None,
        execution_timeout_seconds: int | None = None,
    ) -> JobState:
        """Queue a job. ``payload`` is the body of RunPod's ``/run``: ``{"input": {...}}``
        (and any other key RunPod takes); the adapter adds ``webhook`` and
        ``policy.executionTimeout``."""
        if not isinstance(payload, dict) or "input" not in payload:
            raise ValueError('The run payload is the /run body: {"input": {...}}.')
        body: dict[str, Any] = dict(payload)
        if webhook_url:
            body["webhook"] = webhook_url
        if execution_timeout_seconds is not None:
            policy = dict(body.get("policy") or {})
            policy["executionTimeout"] = max(
                int(execution_timeout_seconds) * 1000, MIN_EXECUTION_TIMEOUT_MS
            )
            body["policy"] = policy
        answer = self._serverless("POST", endpoint_id, "/run", body, what="run")
        return self._job_state(endpoint_id, answer, "run")

    def status(self, endpoint_id: str, provider_job_id: str) -> JobState:
        answer = self._serverless(
            "GET", endpoint_id, f"/status/{_segment(provider_job_id)}", what="job status"
        )
        return self._job_state(endpoint_id, answer, "job status", expected_id=provider_job_id)

    def cancel(self, endpoint_id: str, provider_job_id: str) -> JobState:
        """Cancel the job. RunPod's cancel answer carries only the new status: the adapter
        reads the full status afterwards so a running job's executed time is known."""
        answer = self._serverless(
            "POST", endpoint_id, f"/cancel/{_segment(provider_job_id)}", what="cancel job"
        )
        state = self._job_state(endpoint_id, answer, "cancel job", expected_id=provider_job_id)
        try:
            return self.status(endpoint_id, provider_job_id)
        except ProviderError:
            return state

    def health(self, endpoint_id: str) -> EndpointHealth:
        answer = _object(
            self._serverless("GET", endpoint_id, "/health", what="endpoint health"),
            "endpoint health",
        )
        jobs = _object(answer.get("jobs"), "endpoint health")
        workers = _object(answer.get("workers"), "endpoint health")
        return EndpointHealth(
            workers_idle=_count(workers, "idle"),
            workers_running=_count(workers, "running"),
            workers_initializing=_count(workers, "initializing"),
            jobs_in_queue=_count(jobs, "inQueue"),
            jobs_in_progress=_count(jobs, "inProgress"),
            workers_unhealthy=_count(workers, "unhealthy"),
        )

    def _job_state(
        self, endpoint_id: str, answer: Any, what: str, *, expected_id: str | None = None
    ) -> JobState:
        answer = _object(answer, what)
        job_id = _string(answer, "id", what)
        if expected_id is not None and job_id != expected_id:
            raise ProviderError(f"RunPod answered about another job ({what}).", retryable=False)
        status = answer.get("status")
        if status not in KNOWN_STATES:
            raise ProviderError(f"RunPod answered an unknown job status ({what}).", retryable=False)
        error = answer.get("error")
        if error is not None and not isinstance(error, str):
            error = json.dumps(error)[:1000]
        worker_id = answer.get("workerId")
        gpu = None
        if isinstance(worker_id, str) and worker_id:
            gpu = self.worker_gpu(endpoint_id, worker_id)
        return JobState(
            provider_job_id=job_id,
            status=status,
            output=answer.get("output"),
            error=(error or "")[:1000],
            execution_ms=_milliseconds(answer, "executionTime", what),
            delay_ms=_milliseconds(answer, "delayTime", what),
            gpu_type_id=gpu,
        )

    def worker_gpu(self, endpoint_id: str, worker_id: str) -> str | None:
        """The provider GPU type id of a worker (cached), or None when it cannot be known."""
        key = f"gpu:runpod:worker-gpu:{worker_id}"
        cached = cache.get(key)
        if cached is not None:
            return cached or None
        try:
            endpoint = self._get_endpoint(endpoint_id, workers=True)
        except ProviderError as exc:
            logger.warning("gpu.provider.worker_gpu_unknown", extra={"error": str(exc)})
            return None
        found = None
        for worker in endpoint.get("workers") or []:
            if not isinstance(worker, dict) or not isinstance(worker.get("id"), str):
                continue
            machine = worker.get("machine") if isinstance(worker.get("machine"), dict) else {}
            gpu = worker.get("gpu") if isinstance(worker.get("gpu"), dict) else {}
            gpu_id = machine.get("gpuTypeId") or gpu.get("id")
            if isinstance(gpu_id, str) and gpu_id:
                cache.set(f"gpu:runpod:worker-gpu:{worker['id']}", gpu_id, WORKER_GPU_CACHE_SECONDS)
                if worker["id"] == worker_id:
                    found = gpu_id
        if found is None:
            gpus = endpoint.get("gpuTypeIds")
            if isinstance(gpus, list) and len(gpus) == 1 and isinstance(gpus[0], str):
                found = gpus[0]
        if found is None:
            # Not known now: do not ask again on every poll, but soon enough to learn it.
            cache.set(key, "", WORKER_GPU_UNKNOWN_CACHE_SECONDS)
        return found


def _segment(value: str) -> str:
    """An id as one URL path segment (ids come from RunPod, but never trust a path)."""
    return quote(str(value), safe="")


def _error_text(data: bytes) -> str:
    try:
        answer = json.loads(data)
    except (ValueError, RecursionError):
        return ""
    message = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(message, str) and message:
        return f": {message[:200]}"
    return ""


def _object(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ProviderError(
            f"RunPod's answer is not the expected object ({what}).", retryable=False
        )
    return value


def _string(answer: dict, key: str, what: str) -> str:
    value = answer.get(key)
    if not isinstance(value, str) or not value:
        raise ProviderError(f"RunPod's answer has no {key} ({what}).", retryable=False)
    return value


def _count(answer: dict, key: str) -> int:
    value = answer.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProviderError(f"RunPod's health answer has a bad {key}.", retryable=False)
    return value


def _milliseconds(answer: dict, key: str, what: str) -> int | None:
    value = answer.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 2**53:
        raise ProviderError(f"RunPod's answer has a bad {key} ({what}).", retryable=False)
    return int(value)
