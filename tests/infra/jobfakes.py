"""A tiny RunPod-shaped HTTP server on loopback (``_runpod_fake``) and a client for it,
for the GPU job tests until the shared ``gpu_simulator`` fixture (infra.simulator) and the
RunPod adapter are on main. Real HTTP both ways: ``/v2/{endpoint}/run``, ``/status/{id}``,
``/cancel/{id}``, ``/health``.

A job follows its input's ``simulate`` object: ``queue_seconds`` (default 0.2) in
IN_QUEUE, then ``seconds`` (default 2) IN_PROGRESS, then ``outcome`` (COMPLETED by
default; "failed" → FAILED, "timed_out" → TIMED_OUT). ``execution_ms`` fixes the reported
``executionTime`` (else the time it really ran); ``gpu`` the GPU id it reports; ``output``
the output. ``fail_next(n)`` answers the next n requests with a 503.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from infra.providers.base import EndpointHealth, JobState, ProviderError

OUTCOMES = {"succeeded": "COMPLETED", "failed": "FAILED", "timed_out": "TIMED_OUT"}


class RunpodFake:
    def __init__(self) -> None:
        self.jobs: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.failures_left = 0
        self.requests: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> RunpodFake:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, n: int) -> None:
        with self.lock:
            self.failures_left = n

    # --- the state of a job, from the clock ---------------------------------------------

    def state(self, job_id: str) -> dict:
        job = self.jobs[job_id]
        sim = job["simulate"]
        queue = float(sim.get("queue_seconds", 0.2))
        seconds = float(sim.get("seconds", 2))
        now = job.get("cancelled_at") or time.monotonic()
        elapsed = now - job["created"]
        body: dict = {"id": job_id, "delayTime": int(min(elapsed, queue) * 1000)}
        if job.get("cancelled_at") is not None:
            body["status"] = "CANCELLED"
            body["executionTime"] = int(max(0.0, elapsed - queue) * 1000)
            return body
        if elapsed < queue:
            body["status"] = "IN_QUEUE"
            return body
        if elapsed < queue + seconds:
            body["status"] = "IN_PROGRESS"
            return body
        outcome = OUTCOMES.get(sim.get("outcome", "succeeded"), "COMPLETED")
        body["status"] = outcome
        body["executionTime"] = int(sim.get("execution_ms", seconds * 1000))
        if "gpu" in sim:
            body["gpuTypeId"] = sim["gpu"]
        if outcome == "COMPLETED":
            body["output"] = sim.get("output", {"images": ["https://cdn.example/out.png"]})
        elif outcome == "FAILED":
            body["error"] = "handler raised: simulated failure"
        return body

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, body) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                fake.requests.append((method, self.path))
                with fake.lock:
                    if fake.failures_left > 0:
                        fake.failures_left -= 1
                        self._send(503, {"error": "overloaded"})
                        return
                parts = self.path.strip("/").split("/")
                if len(parts) < 3 or parts[0] != "v2":
                    self._send(404, {"error": "not found"})
                    return
                action = parts[2]
                if method == "POST" and action == "run":
                    length = int(self.headers.get("Content-Length") or 0)
                    payload = json.loads(self.rfile.read(length) or b"{}")
                    job_id = uuid.uuid4().hex
                    sim = payload.get("input", {}).get("simulate") or {}
                    with fake.lock:
                        fake.jobs[job_id] = {
                            "created": time.monotonic(),
                            "simulate": sim,
                            "payload": payload,
                        }
                    self._send(200, {"id": job_id, "status": "IN_QUEUE"})
                    return
                if action in ("status", "cancel") and len(parts) == 4:
                    job_id = parts[3]
                    if job_id not in fake.jobs:
                        self._send(404, {"error": "job not found"})
                        return
                    if action == "cancel":
                        with fake.lock:
                            current = fake.state(job_id)["status"]
                            if current in ("IN_QUEUE", "IN_PROGRESS"):
                                fake.jobs[job_id]["cancelled_at"] = time.monotonic()
                        self._send(200, {"id": job_id, "status": fake.state(job_id)["status"]})
                        return
                    self._send(200, fake.state(job_id))
                    return
                if action == "health":
                    self._send(
                        200,
                        {
                            "jobs": {"inQueue": 0, "inProgress": 0},
                            "workers": {"idle": 1, "running": 0, "initializing": 0},
                        },
                    )
                    return
                self._send(404, {"error": "not found"})

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

        return Handler


class RunpodFakeClient:
    """The provider interface over HTTP to ``RunpodFake`` (a stand-in for the adapter)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback test server
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Authorization": "Bearer test"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise ProviderError(
                f"HTTP {exc.code}", retryable=exc.code >= 500 or exc.code == 429, status=exc.code
            ) from None
        except OSError as exc:
            raise ProviderError(str(exc), retryable=True) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise ProviderError("malformed answer", retryable=True) from None
        if not isinstance(answer, dict):
            raise ProviderError("malformed answer", retryable=True)
        return answer

    @staticmethod
    def _state(answer: dict) -> JobState:
        if not isinstance(answer.get("id"), str) or not isinstance(answer.get("status"), str):
            raise ProviderError("malformed answer", retryable=True)
        return JobState(
            provider_job_id=answer["id"],
            status=answer["status"],
            output=answer.get("output"),
            error=answer.get("error") or "",
            execution_ms=answer.get("executionTime"),
            delay_ms=answer.get("delayTime"),
            gpu_type_id=answer.get("gpuTypeId"),
        )

    def create_endpoint(self, spec) -> str:
        return "ep-" + uuid.uuid4().hex[:8]

    def update_endpoint(self, endpoint_id, spec) -> None:
        return None

    def delete_endpoint(self, endpoint_id) -> None:
        return None

    def run(self, endpoint_id, payload, *, webhook_url=None, execution_timeout_seconds=None):
        body = dict(payload)
        if webhook_url:
            body["webhook"] = webhook_url
        if execution_timeout_seconds:
            body["policy"] = {"executionTimeout": execution_timeout_seconds * 1000}
        return self._state(self._call("POST", f"/v2/{endpoint_id}/run", body))

    def status(self, endpoint_id, provider_job_id):
        return self._state(self._call("GET", f"/v2/{endpoint_id}/status/{provider_job_id}"))

    def cancel(self, endpoint_id, provider_job_id):
        return self._state(self._call("POST", f"/v2/{endpoint_id}/cancel/{provider_job_id}"))

    def health(self, endpoint_id) -> EndpointHealth:
        answer = self._call("GET", f"/v2/{endpoint_id}/health")
        return EndpointHealth(
            workers_idle=answer["workers"]["idle"],
            workers_running=answer["workers"]["running"],
            workers_initializing=answer["workers"]["initializing"],
            jobs_in_queue=answer["jobs"]["inQueue"],
            jobs_in_progress=answer["jobs"]["inProgress"],
        )
