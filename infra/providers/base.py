"""The one interface between the console and a GPU provider (RunPod, or its simulator).

Everything the console knows about a provider goes through ``GpuProvider``; the adapters
translate it to the provider's HTTP API. Raw provider job states are mapped to
``GpuJob.Status`` in one table (``JOB_STATES``).
"""

from dataclasses import dataclass, field
from typing import Any, Protocol


class ProviderError(Exception):
    """The provider did not give a usable answer. ``retryable`` is True for timeouts,
    connection errors, 429 and 5xx (retry with backoff, never lose the job); False for
    answers that will not change on retry (4xx, a job the provider does not know)."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    docker_image: str
    gpu_type_ids: list[str]  # the provider's GPU ids, in priority order
    gpu_count: int
    min_workers: int
    max_workers: int
    idle_timeout_seconds: int
    execution_timeout_seconds: int
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointHealth:
    workers_idle: int
    workers_running: int
    workers_initializing: int
    jobs_in_queue: int
    jobs_in_progress: int
    # Workers that cannot start (e.g. the image does not run): the endpoint will not get ready.
    workers_unhealthy: int = 0


@dataclass(frozen=True)
class JobState:
    provider_job_id: str
    status: str  # the provider's raw status, e.g. "IN_QUEUE", "COMPLETED"
    output: Any = None
    error: str = ""
    execution_ms: int | None = None  # billed time: execution only, not queue or cold start
    delay_ms: int | None = None
    gpu_type_id: str | None = None  # the provider's id of the GPU that ran it, when known


#: The provider's job states → GpuJob.Status (the only place they are compared).
JOB_STATES = {
    "IN_QUEUE": "queued",
    "IN_PROGRESS": "running",
    "COMPLETED": "succeeded",
    "FAILED": "failed",
    "CANCELLED": "canceled",
    "TIMED_OUT": "timed_out",
}


class GpuProvider(Protocol):
    def create_endpoint(self, spec: EndpointSpec) -> str:
        """Create an endpoint; answer the provider's endpoint id."""

    def update_endpoint(self, endpoint_id: str, spec: EndpointSpec) -> None: ...

    def delete_endpoint(self, endpoint_id: str) -> None: ...

    def run(
        self,
        endpoint_id: str,
        payload: dict,
        *,
        webhook_url: str | None = None,
        execution_timeout_seconds: int | None = None,
    ) -> JobState: ...

    def status(self, endpoint_id: str, provider_job_id: str) -> JobState: ...

    def cancel(self, endpoint_id: str, provider_job_id: str) -> JobState: ...

    def health(self, endpoint_id: str) -> EndpointHealth: ...
