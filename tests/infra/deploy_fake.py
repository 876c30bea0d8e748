"""A small fake of RunPod's endpoint HTTP API on loopback, for the deployment tests.

Until the shared ``gpu_simulator`` fixture (the simulator + the RunPod adapter) is on this
branch, ``runpod_fake`` starts a real HTTP server in a thread that speaks the endpoint
part of RunPod's API (``POST/PATCH/DELETE /v1/endpoints``, ``GET /v2/{id}/health``), and
points ``infra.providers.get_provider()`` at a thin HTTP client of it. The tests only use
the ``GpuProvider`` interface, so they run unchanged on the real adapter.
"""

import json
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra import providers
from infra.providers.base import EndpointHealth, EndpointSpec, ProviderError


@dataclass
class FakeState:
    endpoints: dict = field(default_factory=dict)  # id -> spec dict
    workers_idle: int = 0
    workers_running: int = 0
    jobs_in_queue: int = 0
    fail_status: int | None = None  # every request answers this status while set
    calls: list = field(default_factory=list)  # (method, path)


def _handler(state: FakeState):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status: int, body: dict | None = None) -> None:
            data = json.dumps(body or {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _route(self, method: str) -> None:
            state.calls.append((method, self.path))
            if self.headers.get("Authorization") != "Bearer fake-runpod-key":
                return self._answer(401, {"error": "unauthorized"})
            if state.fail_status is not None:
                return self._answer(state.fail_status, {"error": "simulated failure"})
            parts = self.path.strip("/").split("/")
            if method == "POST" and parts == ["v1", "endpoints"]:
                endpoint_id = secrets.token_hex(6)
                state.endpoints[endpoint_id] = self._body()
                return self._answer(200, {"id": endpoint_id})
            if parts[:2] == ["v1", "endpoints"] and len(parts) == 3:
                if parts[2] not in state.endpoints:
                    return self._answer(404, {"error": "no such endpoint"})
                if method == "PATCH":
                    state.endpoints[parts[2]] = self._body()
                    return self._answer(200, {"id": parts[2]})
                if method == "DELETE":
                    del state.endpoints[parts[2]]
                    return self._answer(200, {})
            if method == "GET" and len(parts) == 3 and parts[0] == "v2" and parts[2] == "health":
                if parts[1] not in state.endpoints:
                    return self._answer(404, {"error": "no such endpoint"})
                return self._answer(
                    200,
                    {
                        "jobs": {"inQueue": state.jobs_in_queue, "inProgress": 0},
                        "workers": {
                            "idle": state.workers_idle,
                            "running": state.workers_running,
                            "initializing": 0,
                        },
                    },
                )
            return self._answer(404, {"error": "not found"})

        def do_GET(self):
            self._route("GET")

        def do_POST(self):
            self._route("POST")

        def do_PATCH(self):
            self._route("PATCH")

        def do_DELETE(self):
            self._route("DELETE")

    return Handler


class FakeRunpodClient:
    """The endpoint half of ``GpuProvider`` over HTTP (jobs are not part of these tests)."""

    def __init__(self, base: str):
        self.base = base

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(  # noqa: S310 - http to loopback
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": "Bearer fake-runpod-key", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - http to loopback
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise ProviderError(
                f"HTTP {exc.code}", retryable=exc.code >= 500 or exc.code == 429, status=exc.code
            ) from None
        except OSError as exc:
            raise ProviderError(str(exc), retryable=True) from None

    def create_endpoint(self, spec: EndpointSpec) -> str:
        return self._call("POST", "/v1/endpoints", asdict(spec))["id"]

    def update_endpoint(self, endpoint_id: str, spec: EndpointSpec) -> None:
        self._call("PATCH", f"/v1/endpoints/{endpoint_id}", asdict(spec))

    def delete_endpoint(self, endpoint_id: str) -> None:
        self._call("DELETE", f"/v1/endpoints/{endpoint_id}")

    def health(self, endpoint_id: str) -> EndpointHealth:
        body = self._call("GET", f"/v2/{endpoint_id}/health")
        workers, jobs = body["workers"], body["jobs"]
        return EndpointHealth(
            workers_idle=workers["idle"],
            workers_running=workers["running"],
            workers_initializing=workers["initializing"],
            jobs_in_queue=jobs["inQueue"],
            jobs_in_progress=jobs["inProgress"],
        )


@pytest.fixture(name="runpod_fake")
def runpod_fake_fixture(monkeypatch, settings):
    state = FakeState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = FakeRunpodClient(f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setattr(providers, "get_provider", lambda: client, raising=False)
    settings.ALLOW_PRIVATE_OUTBOUND = True  # webhook URLs on loopback in tests
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
