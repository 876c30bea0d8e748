"""A RunPod-shaped GPU provider in memory, over real HTTP (docs/gpu_provider.md).

It speaks the same two APIs the RunPod adapter (``infra/providers/runpod.py``) speaks, on one
port, so that the adapter is tested (and ``make run`` works) without RunPod:

* the REST API (``/v1``, RunPod's ``https://rest.runpod.io/v1``): ``/templates`` and
  ``/endpoints`` (create, read, update with PATCH, delete; ``?includeWorkers=true`` lists the
  workers with the GPU each one has);
* the serverless API (``/v2``, RunPod's ``https://api.runpod.ai/v2``): ``/{endpoint}/run``,
  ``/{endpoint}/status/{job}``, ``/{endpoint}/cancel/{job}``, ``/{endpoint}/health``.

Every request must carry the API key (``Authorization: Bearer <key>``, or the bare key as
RunPod's serverless API also accepts); anything else is a 401.

Jobs run on a simulated clock (``speed`` simulated seconds per real second; tests freeze it and
move it by hand). A job waits ``queue_delay`` seconds (and for the endpoint's workers to be
initialised, and for a free worker), then runs; its input decides the outcome::

    {"simulate": {"outcome": "succeeded" | "failed" | "timed_out", "seconds": 2}}

(by default a job succeeds after ``default_seconds``, 2). A job running past its execution
timeout (the run's ``policy.executionTimeout``, else the endpoint's ``executionTimeoutMs``)
ends ``TIMED_OUT``. Status answers report ``delayTime`` and ``executionTime`` in milliseconds
and the ``workerId`` like RunPod does; the final status JSON is POSTed to the run's
``webhook`` URL. Test hooks live under ``/_sim/`` (faults, clock, state); they take no key and
the server binds to loopback by default.

This module is a pure helper: it imports nothing from the apps.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import math
import os
import queue
import re
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import urllib3

logger = logging.getLogger(__name__)

OUTCOMES = {"succeeded": "COMPLETED", "failed": "FAILED", "timed_out": "TIMED_OUT"}
FINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"})
FAULT_MODES = ("error", "timeout", "garbage", "malformed", "drop")
#: The largest request body the simulator reads (RunPod refuses /run payloads past 10 MB).
MAX_BODY_BYTES = 10 * 1024 * 1024
#: ``simulate.output_bytes`` is capped so a test cannot exhaust the machine's memory.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
DEFAULT_EXECUTION_TIMEOUT_MS = 600_000
DEFAULT_TTL_MS = 24 * 3600 * 1000
#: The image name that makes an endpoint's workers unhealthy (never ready): a deployment
#: whose image cannot start, for testing "deploying → failed".
UNHEALTHY_IMAGE_MARKER = "simulate-unhealthy"


class SimClock:
    """Simulated seconds: ``speed`` per real second, or frozen and moved by ``advance``."""

    def __init__(self, speed: float = 1.0):
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._base_real = time.monotonic()
        self._base_sim = 0.0
        self._frozen = False

    def _rebase(self) -> None:
        if not self._frozen:
            real = time.monotonic()
            self._base_sim += (real - self._base_real) * self._speed
            self._base_real = real

    def now(self) -> float:
        with self._lock:
            if self._frozen:
                return self._base_sim
            return self._base_sim + (time.monotonic() - self._base_real) * self._speed

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if not value > 0:
            raise ValueError("speed must be positive")
        with self._lock:
            self._rebase()
            self._speed = float(value)

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> None:
        with self._lock:
            self._rebase()
            self._frozen = True

    def resume(self) -> None:
        with self._lock:
            self._base_real = time.monotonic()
            self._frozen = False

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._base_sim += seconds


@dataclass
class Fault:
    """The next ``count`` provider requests (``/v1``, ``/v2``) whose path starts with ``path``
    (and whose method is ``method``, when given) misbehave:

    * ``error``: answer HTTP ``status`` (500 unless told) with a JSON error;
    * ``timeout``: wait ``delay`` real seconds before answering (the client times out first);
    * ``garbage``: answer 200 with ``body``, by default an HTML page (not JSON);
    * ``malformed``: answer 200 with JSON of the wrong shape;
    * ``drop``: close the connection without answering.
    """

    mode: str
    count: int = 1
    status: int = 500
    delay: float = 5.0
    path: str = ""
    method: str = ""
    body: str = ""  # what a ``garbage`` fault answers (default: an HTML error page)

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path) and (not self.method or self.method == method)

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "count": self.count,
            "status": self.status,
            "delay": self.delay,
            "path": self.path,
            "method": self.method,
            "body": self.body[:100],
        }


@dataclass
class _Template:
    id: str
    name: str
    image_name: str
    env: dict[str, str]
    extra: dict[str, Any]

    def as_json(self) -> dict:
        return {
            **self.extra,
            "id": self.id,
            "name": self.name,
            "imageName": self.image_name,
            "env": dict(self.env),
            "isServerless": True,
        }


@dataclass
class _Endpoint:
    id: str
    name: str
    template_id: str
    gpu_type_ids: list[str]
    gpu_count: int
    workers_min: int
    workers_max: int
    idle_timeout: int
    execution_timeout_ms: int
    ready_at: float
    clock: float  # the simulated time up to which this endpoint's events are processed
    extra: dict[str, Any] = field(default_factory=dict)
    workers: dict[str, str | None] = field(default_factory=dict)  # worker id → GPU type id
    busy: set[str] = field(default_factory=set)
    active: list[_Job] = field(default_factory=list)  # jobs not final yet, in order
    counts: dict[str, int] = field(
        default_factory=lambda: {"completed": 0, "failed": 0, "retried": 0}
    )


@dataclass
class _Job:
    seq: int
    id: str
    endpoint_id: str
    input: Any
    webhook: str | None
    execution_timeout_ms: int
    ttl_ms: int
    submitted_at: float
    eligible_at: float
    outcome: str  # COMPLETED | FAILED | TIMED_OUT: what the job does once it runs
    seconds: float
    gpu: str | None
    output: Any = None
    error: str | None = None
    status: str = "IN_QUEUE"
    started_at: float | None = None
    ends_at: float | None = None
    finished_at: float | None = None
    worker_id: str | None = None
    execution_ms: int | None = None
    delay_ms: int | None = None

    def status_json(self) -> dict:
        """The job as RunPod's ``/status`` answers it."""
        body: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.delay_ms is not None:
            body["delayTime"] = self.delay_ms
        if self.execution_ms is not None:
            body["executionTime"] = self.execution_ms
        if self.worker_id:
            body["workerId"] = self.worker_id
        if self.status == "COMPLETED":
            body["output"] = self.output
        elif self.status in ("FAILED", "TIMED_OUT") and self.error:
            body["error"] = self.error
        return body


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class GpuSimulator:
    """The in-memory provider and its HTTP server. ``start()`` serves in a thread (tests, the
    ``simulator`` provider setting); ``serve_forever()`` serves in the calling thread (the
    ``gpu_simulator`` management command)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = "simulator",
        speed: float = 1.0,
        queue_delay: float = 1.0,
        init_seconds: float = 5.0,
        default_seconds: float = 2.0,
        webhook_retry_seconds: float = 10.0,
        tick_seconds: float = 0.05,
        state_file: str | None = None,
        auto_endpoints: bool = False,
    ):
        self.api_key = api_key
        self.auto_endpoints = auto_endpoints
        self.state_file = state_file
        self._dirty = False
        self._last_save = 0.0
        self.clock = SimClock(speed)
        self.queue_delay = queue_delay
        self.init_seconds = init_seconds
        self.default_seconds = default_seconds
        self.webhook_retry_seconds = webhook_retry_seconds
        self.tick_seconds = tick_seconds
        self.webhook_log: list[dict] = []
        self.request_count = 0
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self._templates: dict[str, _Template] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        self._jobs: dict[str, _Job] = {}
        self._seq = itertools.count(1)
        self._stop = threading.Event()
        self._deliveries: queue.Queue = queue.Queue()
        self._http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(10.0))
        self._threads: list[threading.Thread] = []
        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.server.simulator = self  # type: ignore[attr-defined]
        if state_file:
            self._load(state_file)

    # -- life cycle ------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self.server.server_address[0]

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What ``RUNPOD_API_URL`` points at (RunPod: ``https://api.runpod.ai/v2``)."""
        return f"{self.url}/v2"

    @property
    def rest_url(self) -> str:
        """What ``RUNPOD_REST_URL`` points at (RunPod: ``https://rest.runpod.io/v1``)."""
        return f"{self.url}/v1"

    def _start_helpers(self) -> None:
        for target, name in ((self._tick_loop, "tick"), (self._delivery_loop, "webhooks")):
            thread = threading.Thread(target=target, name=f"gpu-simulator-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def start(self) -> GpuSimulator:
        self._start_helpers()
        thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="gpu-simulator-http",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        self._start_helpers()
        try:
            self.server.serve_forever(poll_interval=0.2)
        finally:
            self._stop.set()
            self.server.server_close()
            if self.state_file:
                self.save()

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._http.clear()
        if self.state_file:
            self.save()

    def __enter__(self) -> GpuSimulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test hooks ------------------------------------------------------------------------

    def add_fault(self, mode: str, **options) -> Fault:
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
        fault = Fault(mode=mode, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict]:
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def advance(self, seconds: float) -> None:
        """Move the simulated clock and process what happened meanwhile at once."""
        self.clock.advance(seconds)
        self.process()

    def process(self) -> None:
        with self._lock:
            self._advance_all()

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._templates.clear()
            self._endpoints.clear()
            self._jobs.clear()
            self.webhook_log.clear()

    def job(self, job_id: str) -> dict:
        with self._lock:
            self._advance_all()
            return self._jobs[job_id].status_json()

    def endpoint(self, endpoint_id: str) -> dict:
        with self._lock:
            return self._endpoint_json(self._endpoints[endpoint_id], workers=True)

    def state(self) -> dict:
        with self._lock:
            self._advance_all()
            return {
                "clock": self.clock.now(),
                "speed": self.clock.speed,
                "frozen": self.clock.frozen,
                "queueDelay": self.queue_delay,
                "initSeconds": self.init_seconds,
                "defaultSeconds": self.default_seconds,
                "faults": self.faults(),
                "templates": [t.as_json() for t in self._templates.values()],
                "endpoints": [
                    self._endpoint_json(ep, workers=True) for ep in self._endpoints.values()
                ],
                "jobs": [
                    {**job.status_json(), "endpointId": job.endpoint_id}
                    for job in self._jobs.values()
                ],
            }

    def wait_webhooks(self, timeout: float = 5.0) -> bool:
        """Wait until every queued webhook delivery was attempted (retries included)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._deliveries.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    # -- the job engine (called with the lock held) -----------------------------------------

    def _advance_all(self) -> None:
        now = self.clock.now()
        for endpoint in self._endpoints.values():
            self._advance_endpoint(endpoint, now)

    def _advance_endpoint(self, ep: _Endpoint, now: float) -> None:
        """Process the endpoint's events (finish, queue expiry, start) in time order up to
        ``now``, so a job's timings do not depend on when somebody looked."""
        unhealthy = self._unhealthy(ep)
        while ep.active:
            candidates: list[tuple[float, int, int, str, _Job]] = []
            queued = [job for job in ep.active if job.status == "IN_QUEUE"]
            running = [job for job in ep.active if job.status == "IN_PROGRESS"]
            for job in running:
                candidates.append((job.ends_at, 0, job.seq, "finish", job))
            for job in queued:
                candidates.append((job.submitted_at + job.ttl_ms / 1000, 1, job.seq, "expire", job))
            if queued and len(ep.busy) < ep.workers_max and not unhealthy:
                job = queued[0]
                at = max(job.eligible_at, ep.ready_at, ep.clock)
                candidates.append((at, 2, job.seq, "start", job))
            at, _, _, kind, job = min(candidates, key=lambda c: c[:3])
            if at > now:
                break
            ep.clock = max(ep.clock, at)
            if kind == "finish":
                self._finish(ep, job, job.outcome, at)
            elif kind == "expire":
                job.error = "The job expired in the queue (policy ttl)."
                self._finish(ep, job, "TIMED_OUT", at)
            else:
                self._start(ep, job, at)

    def _unhealthy(self, ep: _Endpoint) -> bool:
        template = self._templates.get(ep.template_id)
        return template is not None and UNHEALTHY_IMAGE_MARKER in template.image_name

    def _start(self, ep: _Endpoint, job: _Job, at: float) -> None:
        self._dirty = True
        gpu = job.gpu or (ep.gpu_type_ids[0] if ep.gpu_type_ids else None)
        worker_id = next((w for w, g in ep.workers.items() if g == gpu and w not in ep.busy), None)
        if worker_id is None:
            worker_id = f"{ep.id[:6]}{len(ep.workers) + 1:02d}{secrets.token_hex(3)}"
            ep.workers[worker_id] = gpu
        ep.busy.add(worker_id)
        job.status = "IN_PROGRESS"
        job.worker_id = worker_id
        job.started_at = at
        job.delay_ms = _ms(at - job.submitted_at)
        timeout = job.execution_timeout_ms / 1000
        if job.outcome == "TIMED_OUT" or job.seconds > timeout:
            job.outcome = "TIMED_OUT"
            job.ends_at = at + timeout
        else:
            job.ends_at = at + job.seconds

    def _finish(self, ep: _Endpoint, job: _Job, status: str, at: float) -> None:
        self._dirty = True
        job.status = status
        job.finished_at = at
        if job.started_at is not None:
            job.execution_ms = _ms(at - job.started_at)
            ep.busy.discard(job.worker_id)
        if status == "TIMED_OUT" and not job.error:
            job.error = "Job execution timed out (policy executionTimeout)."
        if status == "COMPLETED":
            ep.counts["completed"] += 1
        elif status in ("FAILED", "TIMED_OUT"):
            ep.counts["failed"] += 1
        ep.active.remove(job)
        if job.webhook:
            self._deliveries.put((job.webhook, job.status_json(), 1))

    def _plan(self, payload: Any, ep: _Endpoint) -> dict:
        """What a job does, from its input's ``simulate`` object. A worker given input it
        cannot use fails the job, as a real worker would: so does a bad ``simulate``."""
        plan = {
            "outcome": "COMPLETED",
            "seconds": self.default_seconds,
            "queue": self.queue_delay,
            "gpu": None,
            "error": None,
            "output": None,
        }
        simulate = payload.get("simulate") if isinstance(payload, dict) else None
        if simulate is None:
            plan["output"] = self._default_output(payload, None)
            return plan
        problem = None
        if not isinstance(simulate, dict):
            problem = "simulate must be an object"
        else:
            outcome = simulate.get("outcome", "succeeded")
            seconds = simulate.get("seconds", self.default_seconds)
            queue_seconds = simulate.get("queue_seconds", self.queue_delay)
            gpu = simulate.get("gpu")
            if outcome not in OUTCOMES:
                problem = f"simulate.outcome must be one of {', '.join(OUTCOMES)}"
            elif not _seconds_ok(seconds):
                problem = "simulate.seconds must be a number of seconds from 0 to 604800"
            elif not _seconds_ok(queue_seconds):
                problem = "simulate.queue_seconds must be a number of seconds from 0 to 604800"
            elif gpu is not None and gpu not in ep.gpu_type_ids:
                problem = "simulate.gpu must be one of the endpoint's gpuTypeIds"
            else:
                plan.update(
                    outcome=OUTCOMES[outcome],
                    seconds=float(seconds),
                    queue=float(queue_seconds),
                    gpu=gpu,
                )
                if outcome == "failed":
                    plan["error"] = str(simulate.get("error") or "Simulated failure.")[:1000]
                try:
                    plan["output"] = self._default_output(payload, simulate)
                except ValueError as exc:
                    problem = str(exc)
        if problem:
            plan.update(outcome="FAILED", seconds=0.0, error=problem, output=None)
        return plan

    def _default_output(self, payload: Any, simulate: dict | None) -> Any:
        if simulate and "output" in simulate:
            return simulate["output"]
        if simulate and "output_bytes" in simulate:
            size = simulate["output_bytes"]
            if (
                isinstance(size, bool)
                or not isinstance(size, int)
                or not 0 <= size <= (MAX_OUTPUT_BYTES)
            ):
                raise ValueError(f"simulate.output_bytes must be from 0 to {MAX_OUTPUT_BYTES}")
            raw = b"\x89PNG" + b"\0" * max(0, size * 3 // 4 - 4)
            data = "data:image/png;base64," + base64.b64encode(raw).decode()
            return {"images": [{"filename": "ComfyUI_00001_.png", "type": "base64", "data": data}]}
        # The shape runpod/worker-comfyui answers, pointing nowhere real.
        return {
            "images": [
                {
                    "filename": "ComfyUI_00001_.png",
                    "type": "s3_url",
                    "data": "https://simulator.invalid/outputs/ComfyUI_00001_.png",
                }
            ],
            "input": payload,
        }

    # -- background threads ----------------------------------------------------------------

    def _tick_loop(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.process()
                if self.state_file and self._dirty and time.monotonic() - self._last_save > 1:
                    self.save()
            except Exception:
                # A simulator bug must not stop its clock thread; the next tick tries again.
                logger.exception("gpu.simulator.tick_failed")

    # -- persistence (``--state-file``: endpoints survive a restart of ``make run``) ---------

    def save(self) -> None:
        with self._lock:
            state = {
                "version": 1,
                "clock": self.clock.now(),
                "templates": [asdict(t) for t in self._templates.values()],
                "endpoints": [
                    {
                        **{k: v for k, v in asdict(ep).items() if k not in ("active", "busy")},
                        "busy": sorted(ep.busy),
                        "active": [job.id for job in ep.active],
                    }
                    for ep in self._endpoints.values()
                ],
                "jobs": [asdict(job) for job in self._jobs.values()],
            }
            self._dirty = False
            self._last_save = time.monotonic()
        temporary = f"{self.state_file}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
        os.replace(temporary, self.state_file)

    def _load(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            return
        except ValueError:
            logger.warning("gpu.simulator.state_unreadable", extra={"path": path})
            return
        self.clock.advance(max(float(state.get("clock", 0)), 0.0))
        for data in state.get("templates", []):
            template = _Template(**data)
            self._templates[template.id] = template
        for data in state.get("jobs", []):
            job = _Job(**data)
            self._jobs[job.id] = job
        seq = max((job.seq for job in self._jobs.values()), default=0)
        self._seq = itertools.count(seq + 1)
        for data in state.get("endpoints", []):
            active = [self._jobs[job_id] for job_id in data.pop("active") if job_id in self._jobs]
            endpoint = _Endpoint(**{**data, "busy": set(data["busy"]), "active": active})
            self._endpoints[endpoint.id] = endpoint

    def _delivery_loop(self) -> None:
        """POST a finished job's status to its webhook; like RunPod, retry twice when the
        receiver does not answer 200."""
        while not self._stop.is_set():
            try:
                url, body, attempt = self._deliveries.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                entry = {"url": url, "jobId": body["id"], "attempt": attempt, "status": None}
                try:
                    response = self._http.request(
                        "POST",
                        url,
                        body=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json"},
                        redirect=False,
                    )
                    entry["status"] = response.status
                except Exception as exc:  # a bad URL or a dead receiver: logged, retried
                    entry["error"] = type(exc).__name__
                with self._lock:
                    self.webhook_log.append(entry)
                if entry["status"] != 200 and attempt < 3 and not self._stop.is_set():
                    retry = threading.Timer(
                        self.webhook_retry_seconds,
                        self._deliveries.put,
                        args=((url, body, attempt + 1),),
                    )
                    retry.daemon = True
                    self._retry_pending(retry)
            finally:
                self._deliveries.task_done()

    def _retry_pending(self, timer: threading.Timer) -> None:
        # Keep wait_webhooks() honest: the retry counts as unfinished from now on.
        with self._deliveries.all_tasks_done:
            self._deliveries.unfinished_tasks += 1
        original = timer.function

        def fire(*args):
            try:
                original(*args)
            finally:
                self._deliveries.task_done()

        timer.function = fire
        timer.start()

    # -- the HTTP API (called by the handler) ----------------------------------------------

    def handle(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        for pattern, route_method, name in _ROUTES:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                with self._lock:
                    self._advance_all()
                    if method != "GET":
                        self._dirty = True
                    return getattr(self, name)(query=query, body=body, **match.groupdict())
        if any(pattern.fullmatch(path) for pattern, _, _ in _ROUTES):
            raise _Refused(405, "method not allowed")
        raise _Refused(404, "not found")

    def _endpoint_or_404(self, endpoint_id: str) -> _Endpoint:
        endpoint = self._endpoints.get(endpoint_id)
        if endpoint is None and self.auto_endpoints:
            endpoint = self._auto_endpoint(endpoint_id)
        if endpoint is None:
            raise _Refused(404, f"endpoint {endpoint_id} not found")
        return endpoint

    def _auto_endpoint(self, endpoint_id: str) -> _Endpoint:
        """``auto_endpoints`` (``make run``): an endpoint id the simulator does not know —
        demo data written straight to the database, or an endpoint from before a restart
        without ``--state-file`` — is created ready on first use. Its workers report no GPU."""
        template = _Template(
            id=_new_id(10),
            name=f"auto-{endpoint_id}",
            image_name="simulator/auto-endpoint",
            env={},
            extra={},
        )
        self._templates[template.id] = template
        now = self.clock.now()
        endpoint = _Endpoint(
            id=endpoint_id,
            name=f"auto-{endpoint_id}",
            template_id=template.id,
            gpu_type_ids=[],
            gpu_count=1,
            workers_min=0,
            workers_max=3,
            idle_timeout=5,
            execution_timeout_ms=DEFAULT_EXECUTION_TIMEOUT_MS,
            ready_at=now,
            clock=now,
        )
        self._endpoints[endpoint_id] = endpoint
        self._dirty = True
        return endpoint

    def _template_or_404(self, template_id: str) -> _Template:
        template = self._templates.get(template_id)
        if template is None:
            raise _Refused(404, f"template {template_id} not found")
        return template

    # REST: templates

    def rest_template_create(self, *, query, body) -> tuple[int, Any]:
        body = _object(body)
        name, image = body.get("name"), body.get("imageName")
        if not isinstance(name, str) or not name.strip():
            raise _Refused(400, "name is required")
        if not isinstance(image, str) or not image.strip():
            raise _Refused(400, "imageName is required")
        if any(t.name == name for t in self._templates.values()):
            raise _Refused(400, f"a template named {name!r} already exists")
        env = _env(body.get("env", {}))
        extra = {k: v for k, v in body.items() if k not in ("name", "imageName", "env")}
        template = _Template(id=_new_id(10), name=name, image_name=image, env=env, extra=extra)
        self._templates[template.id] = template
        return 200, template.as_json()

    def rest_template_get(self, *, query, body, template_id) -> tuple[int, Any]:
        return 200, self._template_or_404(template_id).as_json()

    def rest_template_update(self, *, query, body, template_id) -> tuple[int, Any]:
        template = self._template_or_404(template_id)
        body = _object(body)
        if "imageName" in body:
            image = body["imageName"]
            if not isinstance(image, str) or not image.strip():
                raise _Refused(400, "imageName must be a non-empty string")
            template.image_name = image
        if "env" in body:
            template.env = _env(body["env"])
        if "name" in body:
            if not isinstance(body["name"], str) or not body["name"].strip():
                raise _Refused(400, "name must be a non-empty string")
            template.name = body["name"]
        # Like RunPod, every template update rolls out a new release: the endpoints' workers
        # initialise again.
        for ep in self._endpoints.values():
            if ep.template_id == template.id:
                ep.ready_at = self.clock.now() + self.init_seconds
        return 200, template.as_json()

    def rest_template_delete(self, *, query, body, template_id) -> tuple[int, Any]:
        self._template_or_404(template_id)
        if any(ep.template_id == template_id for ep in self._endpoints.values()):
            raise _Refused(400, "the template is used by an endpoint")
        del self._templates[template_id]
        return 204, None

    # REST: endpoints

    def _endpoint_json(self, ep: _Endpoint, *, workers: bool = False) -> dict:
        answer = {
            **ep.extra,
            "id": ep.id,
            "name": ep.name,
            "templateId": ep.template_id,
            "gpuTypeIds": list(ep.gpu_type_ids),
            "gpuCount": ep.gpu_count,
            "workersMin": ep.workers_min,
            "workersMax": ep.workers_max,
            "idleTimeout": ep.idle_timeout,
            "executionTimeoutMs": ep.execution_timeout_ms,
            "computeType": "GPU",
        }
        if workers:
            answer["workers"] = [
                {
                    "id": worker_id,
                    "desiredStatus": "RUNNING",
                    "gpuCount": ep.gpu_count,
                    **(
                        {
                            "gpu": {"id": gpu, "count": ep.gpu_count, "displayName": gpu},
                            "machine": {"gpuTypeId": gpu},
                        }
                        if gpu
                        else {}
                    ),
                }
                for worker_id, gpu in ep.workers.items()
            ]
        return answer

    def _endpoint_fields(self, body: dict, *, partial: bool) -> dict:
        fields: dict[str, Any] = {}
        if "name" in body or not partial:
            name = body.get("name", "")
            if not isinstance(name, str):
                raise _Refused(400, "name must be a string")
            fields["name"] = name
        if "gpuTypeIds" in body or not partial:
            gpus = body.get("gpuTypeIds")
            if (
                not isinstance(gpus, list)
                or not gpus
                or not all(isinstance(g, str) and g.strip() for g in gpus)
            ):
                raise _Refused(400, "gpuTypeIds must be a non-empty list of GPU type ids")
            fields["gpu_type_ids"] = list(gpus)
        for key, attr, low, high, default in (
            ("gpuCount", "gpu_count", 1, 8, 1),
            ("workersMin", "workers_min", 0, 100, 0),
            ("workersMax", "workers_max", 0, 100, 3),
            ("idleTimeout", "idle_timeout", 1, 3600, 5),
            ("executionTimeoutMs", "execution_timeout_ms", 5_000, 7 * 86_400_000, 600_000),
        ):
            if key in body or not partial:
                value = body.get(key, default)
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int)
                    or not (low <= value <= high)
                ):
                    raise _Refused(400, f"{key} must be an integer from {low} to {high}")
                fields[attr] = value
        return fields

    def rest_endpoint_create(self, *, query, body) -> tuple[int, Any]:
        body = _object(body)
        template_id = body.get("templateId")
        if not isinstance(template_id, str) or template_id not in self._templates:
            raise _Refused(400, "templateId must name an existing template")
        fields = self._endpoint_fields(body, partial=False)
        if fields["workers_min"] > fields["workers_max"]:
            raise _Refused(400, "workersMin cannot be greater than workersMax")
        known = {
            "templateId",
            "name",
            "gpuTypeIds",
            "gpuCount",
            "workersMin",
            "workersMax",
            "idleTimeout",
            "executionTimeoutMs",
        }
        now = self.clock.now()
        endpoint = _Endpoint(
            id=_new_id(14),
            template_id=template_id,
            ready_at=now + self.init_seconds,
            clock=now,
            extra={k: v for k, v in body.items() if k not in known},
            **fields,
        )
        self._endpoints[endpoint.id] = endpoint
        return 200, self._endpoint_json(endpoint)

    def rest_endpoint_list(self, *, query, body) -> tuple[int, Any]:
        workers = query.get("includeWorkers") == "true"
        return 200, [self._endpoint_json(ep, workers=workers) for ep in self._endpoints.values()]

    def rest_endpoint_get(self, *, query, body, endpoint_id) -> tuple[int, Any]:
        ep = self._endpoint_or_404(endpoint_id)
        answer = self._endpoint_json(ep, workers=query.get("includeWorkers") == "true")
        if query.get("includeTemplate") == "true":
            answer["template"] = self._template_or_404(ep.template_id).as_json()
        return 200, answer

    def rest_endpoint_update(self, *, query, body, endpoint_id) -> tuple[int, Any]:
        ep = self._endpoint_or_404(endpoint_id)
        body = _object(body)
        if "templateId" in body:
            if body["templateId"] not in self._templates:
                raise _Refused(400, "templateId must name an existing template")
            if body["templateId"] != ep.template_id:
                ep.template_id = body["templateId"]
                ep.ready_at = self.clock.now() + self.init_seconds
        fields = self._endpoint_fields(body, partial=True)
        if fields.get("workers_min", ep.workers_min) > fields.get("workers_max", ep.workers_max):
            raise _Refused(400, "workersMin cannot be greater than workersMax")
        for attr, value in fields.items():
            setattr(ep, attr, value)
        ep.clock = max(ep.clock, self.clock.now())
        return 200, self._endpoint_json(ep)

    def rest_endpoint_delete(self, *, query, body, endpoint_id) -> tuple[int, Any]:
        ep = self._endpoint_or_404(endpoint_id)
        now = self.clock.now()
        for job in list(ep.active):
            self._finish(ep, job, "CANCELLED", now)
        del self._endpoints[endpoint_id]
        return 204, None

    # Serverless: run, status, cancel, health

    def sls_run(self, *, query, body, endpoint_id) -> tuple[int, Any]:
        ep = self._endpoint_or_404(endpoint_id)
        body = _object(body)
        if "input" not in body:
            raise _Refused(400, "input is required")
        webhook = body.get("webhook")
        if webhook is not None and (not isinstance(webhook, str) or not webhook.strip()):
            raise _Refused(400, "webhook must be a URL")
        policy = body.get("policy")
        if policy is None:
            policy = {}
        if not isinstance(policy, dict):
            raise _Refused(400, "policy must be an object")
        timeout_ms = policy.get("executionTimeout", ep.execution_timeout_ms)
        ttl_ms = policy.get("ttl", DEFAULT_TTL_MS)
        for key, value, low in (("executionTimeout", timeout_ms, 5_000), ("ttl", ttl_ms, 10_000)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not (low <= value <= 7 * 86_400_000)
            ):
                raise _Refused(400, f"policy.{key} must be milliseconds from {low} to 7 days")
        plan = self._plan(body["input"], ep)
        now = self.clock.now()
        job = _Job(
            seq=next(self._seq),
            id=f"{uuid.uuid4()}-u1",  # RunPod's job ids look like this
            endpoint_id=ep.id,
            input=body["input"],
            webhook=webhook,
            execution_timeout_ms=timeout_ms,
            ttl_ms=ttl_ms,
            submitted_at=now,
            eligible_at=now + plan["queue"],
            outcome=plan["outcome"],
            seconds=plan["seconds"],
            gpu=plan["gpu"],
            output=plan["output"],
            error=plan["error"],
        )
        self._jobs[job.id] = job
        ep.active.append(job)
        return 200, {"id": job.id, "status": job.status}

    def _job_or_404(self, ep: _Endpoint, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None or job.endpoint_id != ep.id:
            raise _Refused(404, "request does not exist")
        return job

    def sls_status(self, *, query, body, endpoint_id, job_id) -> tuple[int, Any]:
        ep = self._endpoint_or_404(endpoint_id)
        return 200, self._job_or_404(ep, job_id).status_json()

    def sls_cancel(self, *, query, body, endpoint_id, job_id) -> tuple[int, Any]:
        ep = self._endpoint_or_404(endpoint_id)
        job = self._job_or_404(ep, job_id)
        if job.status not in FINAL:
            self._finish(ep, job, "CANCELLED", self.clock.now())
        return 200, {"id": job.id, "status": job.status}

    def sls_health(self, *, query, body, endpoint_id) -> tuple[int, Any]:
        ep = self._endpoint_or_404(endpoint_id)
        now = self.clock.now()
        running = len(ep.busy)
        initializing = idle = unhealthy = 0
        if self._unhealthy(ep):
            unhealthy = ep.workers_max
        elif now < ep.ready_at:
            initializing = max(ep.workers_max - running, 0)
        else:
            idle = max(ep.workers_max - running, 0)
        in_queue = sum(1 for job in ep.active if job.status == "IN_QUEUE")
        return 200, {
            "jobs": {
                "completed": ep.counts["completed"],
                "failed": ep.counts["failed"],
                "inProgress": running,
                "inQueue": in_queue,
                "retried": ep.counts["retried"],
            },
            "workers": {
                "idle": idle,
                "initializing": initializing,
                "ready": idle,
                "running": running,
                "throttled": 0,
                "unhealthy": unhealthy,
            },
        }

    # Test hooks (/_sim)

    def sim_state(self, *, query, body) -> tuple[int, Any]:
        return 200, self.state()

    def sim_faults_add(self, *, query, body) -> tuple[int, Any]:
        body = _object(body)
        names = ("count", "status", "delay", "path", "method", "body")
        options = {k: body[k] for k in names if k in body}
        try:
            self.add_fault(body.get("mode", ""), **options)
        except (TypeError, ValueError) as exc:
            raise _Refused(400, str(exc)) from exc
        return 201, {"faults": self.faults()}

    def sim_faults_clear(self, *, query, body) -> tuple[int, Any]:
        self.clear_faults()
        return 200, {"faults": []}

    def sim_clock(self, *, query, body) -> tuple[int, Any]:
        body = _object(body)
        try:
            if "speed" in body:
                self.clock.speed = float(body["speed"])
            if body.get("freeze") is True:
                self.clock.freeze()
            elif body.get("freeze") is False:
                self.clock.resume()
            if "advance" in body:
                self.clock.advance(float(body["advance"]))
        except (TypeError, ValueError) as exc:
            raise _Refused(400, str(exc)) from exc
        self._advance_all()
        return 200, {"clock": self.clock.now(), "speed": self.clock.speed}

    def sim_config(self, *, query, body) -> tuple[int, Any]:
        body = _object(body)
        for key, attr in (
            ("queueDelay", "queue_delay"),
            ("initSeconds", "init_seconds"),
            ("defaultSeconds", "default_seconds"),
            ("webhookRetrySeconds", "webhook_retry_seconds"),
        ):
            if key in body:
                value = body[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise _Refused(400, f"{key} must be a non-negative number")
                setattr(self, attr, float(value))
        return 200, {
            "queueDelay": self.queue_delay,
            "initSeconds": self.init_seconds,
            "defaultSeconds": self.default_seconds,
            "webhookRetrySeconds": self.webhook_retry_seconds,
        }

    def sim_webhooks(self, *, query, body) -> tuple[int, Any]:
        return 200, list(self.webhook_log)

    def sim_reset(self, *, query, body) -> tuple[int, Any]:
        self.reset()
        return 200, {}


def _seconds_ok(value: Any) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and 0 <= value <= 7 * 86400
    )


def _new_id(length: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _object(body: Any) -> dict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _Refused(400, "the body must be a JSON object")
    return body


def _env(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _Refused(400, "env must be an object of strings")
    return dict(value)


_ID = r"[A-Za-z0-9_-]+"
_ROUTES = [
    (re.compile(p.replace("{id}", _ID)), m, n)
    for p, m, n in [
        (r"/v1/templates", "POST", "rest_template_create"),
        (r"/v1/templates/(?P<template_id>{id})", "GET", "rest_template_get"),
        (r"/v1/templates/(?P<template_id>{id})", "PATCH", "rest_template_update"),
        (r"/v1/templates/(?P<template_id>{id})", "DELETE", "rest_template_delete"),
        (r"/v1/endpoints", "POST", "rest_endpoint_create"),
        (r"/v1/endpoints", "GET", "rest_endpoint_list"),
        (r"/v1/endpoints/(?P<endpoint_id>{id})", "GET", "rest_endpoint_get"),
        (r"/v1/endpoints/(?P<endpoint_id>{id})", "PATCH", "rest_endpoint_update"),
        (r"/v1/endpoints/(?P<endpoint_id>{id})", "DELETE", "rest_endpoint_delete"),
        (r"/v2/(?P<endpoint_id>{id})/run", "POST", "sls_run"),
        (r"/v2/(?P<endpoint_id>{id})/status/(?P<job_id>{id})", "GET", "sls_status"),
        (r"/v2/(?P<endpoint_id>{id})/cancel/(?P<job_id>{id})", "POST", "sls_cancel"),
        (r"/v2/(?P<endpoint_id>{id})/health", "GET", "sls_health"),
        (r"/_sim/state", "GET", "sim_state"),
        (r"/_sim/faults", "POST", "sim_faults_add"),
        (r"/_sim/faults", "DELETE", "sim_faults_clear"),
        (r"/_sim/clock", "POST", "sim_clock"),
        (r"/_sim/config", "POST", "sim_config"),
        (r"/_sim/webhooks", "GET", "sim_webhooks"),
        (r"/_sim/reset", "POST", "sim_reset"),
    ]
]


class _Handler(BaseHTTPRequestHandler):
    server_version = "GpuSimulator/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass  # quiet: tests and `make run` do not want a line per poll

    def _send(self, status: int, payload: Any = None, *, raw: bytes | None = None) -> None:
        data = raw if raw is not None else (b"" if status == 204 else json.dumps(payload).encode())
        try:
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a `timeout` fault)

    def _authorised(self, sim: GpuSimulator) -> bool:
        header = self.headers.get("Authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else header
        return bool(sim.api_key) and secrets.compare_digest(token.encode(), sim.api_key.encode())

    def _dispatch(self, method: str) -> None:
        sim: GpuSimulator = self.server.simulator  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        provider_path = path.startswith(("/v1/", "/v2/")) or path == "/v1"
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(413, {"error": "payload too large"})
            return
        raw = self.rfile.read(length) if length else b""
        if provider_path:
            with sim._lock:
                sim.request_count += 1
            if not self._authorised(sim):
                self._send(401, {"error": "Unauthorized"})
                return
            fault = sim._take_fault(method, path)
            if fault is not None and self._misbehave(sim, fault):
                return
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            self._send(400, {"error": "the body is not JSON (or nested too deep)"})
            return
        try:
            status, payload = sim.handle(method, path, query, body)
        except _Refused as refused:
            self._send(refused.status, {"error": refused.message})
            return
        self._send(status, payload)

    def _misbehave(self, sim: GpuSimulator, fault: Fault) -> bool:
        """Answer as the fault says; False when the request should go on normally (a
        ``timeout`` fault shorter than the client's patience only slows it down)."""
        if fault.mode == "error":
            self._send(fault.status, {"error": "simulated provider fault"})
        elif fault.mode == "garbage":
            self._send(
                200, raw=(fault.body or "<html><body>502 Bad Gateway</body></html>").encode()
            )
        elif fault.mode == "malformed":
            self._send(200, {"unexpected": ["shape"]})
        elif fault.mode == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
        elif fault.mode == "timeout":
            if sim._stop.wait(fault.delay):
                self.close_connection = True
                return True
            return False
        return True

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")
