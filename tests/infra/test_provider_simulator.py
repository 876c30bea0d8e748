"""The simulator itself: its HTTP test hooks, its running clock, hostile requests, the
management command (a real process) and its state file, and the in-process provider."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import urllib3
from django.conf import settings as django_settings

from infra.providers import get_provider
from infra.providers.base import EndpointSpec, ProviderError
from infra.providers.runpod import RunPodProvider
from infra.simulator import MAX_BODY_BYTES, GpuSimulator
from tests.infra.test_provider_runpod import _Receiver

SPEC = EndpointSpec(
    name="sim",
    docker_image="runpod/worker-comfyui:5.1.0-base",
    gpu_type_ids=["NVIDIA GeForce RTX 4090"],
    gpu_count=1,
    min_workers=0,
    max_workers=1,
    idle_timeout_seconds=5,
    execution_timeout_seconds=60,
)


def _call(sim, method, path, body=None, *, key=True, raw: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {sim.api_key}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    response = urllib3.request(
        method, f"{sim.url}{path}", body=data, headers=headers, retries=False, timeout=10
    )
    try:
        answer = json.loads(response.data) if response.data else None
    except ValueError:
        answer = response.data
    return response.status, answer


def _until(predicate, timeout=10.0):
    """Poll until the predicate holds (the simulator's clock runs on its own here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("the simulator did not get there in time")


def _answers(port: int) -> bool:
    try:
        return (
            urllib3.request("GET", f"http://127.0.0.1:{port}/_sim/state", retries=False).status
            == 200
        )
    except urllib3.exceptions.HTTPError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- the running clock -----------------------------------------------------------------


def test_with_the_clock_running_a_job_finishes_and_calls_back_unpolled(gpu_simulator):
    provider = get_provider()
    endpoint = provider.create_endpoint(SPEC)
    receiver = _Receiver()
    try:
        job = provider.run(
            endpoint, {"input": {"simulate": {"seconds": 1}}}, webhook_url=receiver.url
        )
        _until(lambda: receiver.bodies)  # nobody polls: the simulator's clock thread ends it
    finally:
        receiver.close()
    (body,) = receiver.bodies
    assert (body["id"], body["status"], body["executionTime"]) == (
        job.provider_job_id,
        "COMPLETED",
        1000,
    )
    final = provider.status(endpoint, job.provider_job_id)
    assert (final.status, final.execution_ms) == ("COMPLETED", 1000)


def test_a_job_left_in_the_queue_past_its_ttl_times_out(gpu_simulator):
    gpu_simulator.clock.freeze()
    provider = get_provider()
    endpoint = provider.create_endpoint(SPEC)
    provider.update_endpoint(endpoint, replace(SPEC, max_workers=0))
    status, answer = _call(
        gpu_simulator,
        "POST",
        f"/v2/{endpoint}/run",
        {"input": {"prompt": "x"}, "policy": {"ttl": 30_000}},
    )
    assert status == 200
    gpu_simulator.advance(29.9)
    assert provider.status(endpoint, answer["id"]).status == "IN_QUEUE"
    gpu_simulator.advance(0.1)
    expired = provider.status(endpoint, answer["id"])
    assert expired.status == "TIMED_OUT"
    assert expired.execution_ms is None  # it never ran


def test_workers_scaled_to_zero_hold_jobs_until_scaled_up(gpu_simulator):
    gpu_simulator.clock.freeze()
    provider = get_provider()
    endpoint = provider.create_endpoint(replace(SPEC, max_workers=0))
    job = provider.run(endpoint, {"input": {"simulate": {"seconds": 1}}})
    gpu_simulator.advance(100)
    assert provider.status(endpoint, job.provider_job_id).status == "IN_QUEUE"
    provider.update_endpoint(endpoint, SPEC)
    gpu_simulator.advance(0.5)
    started = provider.status(endpoint, job.provider_job_id)
    assert started.status == "IN_PROGRESS"
    assert started.delay_ms == 100_000  # from the scale-up on, never back in time


def test_deleting_an_endpoint_cancels_its_jobs(gpu_simulator):
    gpu_simulator.clock.freeze()
    provider = get_provider()
    endpoint = provider.create_endpoint(SPEC)
    job = provider.run(endpoint, {"input": {"prompt": "x"}})
    provider.delete_endpoint(endpoint)
    assert gpu_simulator.state()["jobs"][0]["status"] == "CANCELLED"
    with pytest.raises(ProviderError) as caught:
        provider.status(endpoint, job.provider_job_id)
    assert caught.value.status == 404


# -- outputs ---------------------------------------------------------------------------


def test_simulate_output_and_output_bytes(gpu_simulator):
    gpu_simulator.clock.freeze()
    provider = get_provider()
    endpoint = provider.create_endpoint(SPEC)
    given = provider.run(
        endpoint, {"input": {"simulate": {"output": {"text": "hello"}, "seconds": 0}}}
    )
    big = provider.run(endpoint, {"input": {"simulate": {"output_bytes": 300_000, "seconds": 0}}})
    gpu_simulator.advance(20)
    assert provider.status(endpoint, given.provider_job_id).output == {"text": "hello"}
    data = provider.status(endpoint, big.provider_job_id).output["images"][0]["data"]
    assert data.startswith("data:image/png;base64,")
    assert 299_000 <= len(data) <= 301_000


# -- the /_sim hooks over HTTP ---------------------------------------------------------


def test_faults_over_http_fail_the_next_requests_then_clear(gpu_simulator):
    status, answer = _call(
        gpu_simulator, "POST", "/_sim/faults", {"mode": "error", "status": 503, "count": 2}
    )
    assert status == 201
    assert answer["faults"][0]["count"] == 2
    assert _call(gpu_simulator, "GET", "/v1/endpoints")[0] == 503
    assert _call(gpu_simulator, "GET", "/v1/endpoints")[0] == 503
    assert _call(gpu_simulator, "GET", "/v1/endpoints")[0] == 200
    _call(gpu_simulator, "POST", "/_sim/faults", {"mode": "garbage", "count": 5})
    assert _call(gpu_simulator, "DELETE", "/_sim/faults") == (200, {"faults": []})
    assert _call(gpu_simulator, "GET", "/v1/endpoints")[0] == 200


def test_a_fault_of_an_unknown_mode_is_refused(gpu_simulator):
    status, answer = _call(gpu_simulator, "POST", "/_sim/faults", {"mode": "explode"})
    assert status == 400
    assert "mode" in answer["error"]


def test_the_clock_and_config_over_http(gpu_simulator):
    provider = get_provider()
    endpoint = provider.create_endpoint(SPEC)
    status, _ = _call(gpu_simulator, "POST", "/_sim/clock", {"freeze": True})
    assert status == 200
    assert _call(gpu_simulator, "POST", "/_sim/config", {"queueDelay": 0})[0] == 200
    job = provider.run(endpoint, {"input": {"simulate": {"seconds": 3}}})
    _call(gpu_simulator, "POST", "/_sim/clock", {"advance": gpu_simulator.init_seconds + 3})
    final = provider.status(endpoint, job.provider_job_id)
    assert (final.status, final.execution_ms) == ("COMPLETED", 3000)
    assert _call(gpu_simulator, "POST", "/_sim/clock", {"advance": -1})[0] == 400
    assert _call(gpu_simulator, "POST", "/_sim/config", {"queueDelay": "soon"})[0] == 400
    _, state = _call(gpu_simulator, "GET", "/_sim/state")
    assert state["frozen"] is True
    assert state["jobs"][0]["status"] == "COMPLETED"


# -- hostile requests ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/templates", b"{not json", 400),
        ("POST", "/v1/templates", b"[1, 2]", 400),
        ("POST", "/v1/templates", b'{"name": "x"}', 400),
        ("POST", "/v1/endpoints", b'{"templateId": "nope", "gpuTypeIds": ["A"]}', 400),
        ("GET", "/v1/nothing", None, 404),
        ("PUT", "/v1/endpoints", None, 405),
        ("GET", "/v2/../../etc/passwd/health", None, 404),
        ("POST", "/v1/templates", b"[" * 100_000 + b"]" * 100_000, 400),
        ("POST", "/v1/endpoints", b'{"templateId": "x", "workersMax": 1e999}', 400),
    ],
)
def test_bad_requests_get_a_4xx_in_json(gpu_simulator, method, path, body, status):
    got, answer = _call(gpu_simulator, method, path, raw=body)
    assert got == status
    assert isinstance(answer["error"], str)


def test_a_body_past_the_limit_is_refused(gpu_simulator):
    headers = {"Authorization": f"Bearer {gpu_simulator.api_key}"}
    with socket.create_connection((gpu_simulator.host, gpu_simulator.port), timeout=5) as conn:
        conn.sendall(
            f"POST /v2/x/run HTTP/1.1\r\nHost: x\r\nAuthorization: {headers['Authorization']}"
            f"\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        assert conn.recv(100).startswith(b"HTTP/1.1 413")


def test_bad_run_policies_are_refused(gpu_simulator):
    provider = get_provider()
    endpoint = provider.create_endpoint(SPEC)
    for policy in ({"executionTimeout": 10}, {"executionTimeout": True}, {"ttl": "1h"}, []):
        status, _ = _call(
            gpu_simulator, "POST", f"/v2/{endpoint}/run", {"input": {}, "policy": policy}
        )
        assert status == 400, policy
    assert _call(gpu_simulator, "POST", f"/v2/{endpoint}/run", {"prompt": "x"})[0] == 400


# -- the management command (a real process) -------------------------------------------


def _command(*args: str) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hypereal_site.settings.test"}
    return subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "gpu_simulator", *args],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_command_serves_keeps_its_state_and_stops_on_sigterm(tmp_path):
    port, state = _free_port(), tmp_path / "sim.json"
    args = ["--port", str(port), "--api-key", "k", "--state-file", str(state)]
    server = _command(*args)
    try:
        _until(lambda: _answers(port), timeout=90)
        sim_url = f"http://127.0.0.1:{port}"
        provider = RunPodProvider(api_key="k", api_url=f"{sim_url}/v2", rest_url=f"{sim_url}/v1")
        endpoint = provider.create_endpoint(SPEC)
        job = provider.run(endpoint, {"input": {"simulate": {"seconds": 30}}})
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    assert "GPU simulator (RunPod API)" in server.stdout.read()
    saved = json.loads(state.read_text())
    assert [e["id"] for e in saved["endpoints"]] == [endpoint]

    again = _command(*args)
    try:
        _until(lambda: _answers(port), timeout=90)
        # The endpoint and its unfinished job came back from the state file.
        assert provider.status(endpoint, job.provider_job_id).status in {"IN_QUEUE", "IN_PROGRESS"}
        assert provider.health(endpoint).jobs_in_queue + provider.health(endpoint).jobs_in_progress
    finally:
        again.send_signal(signal.SIGTERM)
        again.wait(timeout=30)


def test_waiting_for_a_simulator_that_is_not_there_fails():
    waited = _command("--port", str(_free_port()), "--wait", "0.3")
    assert waited.wait(timeout=90) != 0
    assert "No GPU simulator answered" in waited.stderr.read()


# -- auto endpoints and the in-process provider ----------------------------------------


def test_auto_endpoints_answer_for_ids_they_never_saw():
    with GpuSimulator(api_key="k", auto_endpoints=True, speed=50, queue_delay=0) as sim:
        sim.clock.freeze()
        status, answer = _call(sim, "POST", "/v2/demo-endpoint/run", {"input": {"x": 1}})
        assert status == 200
        sim.advance(3)
        status, final = _call(sim, "GET", f"/v2/demo-endpoint/status/{answer['id']}")
        assert (final["status"], final["executionTime"]) == ("COMPLETED", 2000)
        # No GPU is reported for them: the adapter answers None.
        provider = RunPodProvider(api_key="k", api_url=sim.api_url, rest_url=sim.rest_url)
        assert provider.status("demo-endpoint", answer["id"]).gpu_type_id is None
        before = sim.request_count
        assert provider.status("demo-endpoint", answer["id"]).gpu_type_id is None
        assert sim.request_count == before + 1  # "unknown" is remembered for a while
    with GpuSimulator(api_key="k") as strict:
        assert _call(strict, "GET", "/v2/demo-endpoint/health")[0] == 404


def test_the_simulator_provider_setting_starts_one_in_this_process(settings):
    settings.GPU_PROVIDER = "simulator"
    settings.GPU_ENABLED = True
    provider = get_provider()
    assert provider.api_url.startswith("http://127.0.0.1:")
    endpoint = provider.create_endpoint(SPEC)
    assert provider.run(endpoint, {"input": {"prompt": "x"}}).status == "IN_QUEUE"
    assert get_provider().api_url == provider.api_url  # the same simulator every time


def test_a_process_started_by_the_test_talks_to_the_same_simulator(gpu_simulator):
    """What a real Celery worker started by a test sees: the fixture's environment."""
    assert os.environ["RUNPOD_API_URL"] == gpu_simulator.api_url
    endpoint = get_provider().create_endpoint(SPEC)
    script = (
        "from infra.providers import get_provider; "
        f"print(get_provider().run({endpoint!r}, {{'input': {{'prompt': 'x'}}}}).provider_job_id)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "hypereal_site.settings.test"}
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    job_id = result.stdout.split()[-1]
    assert gpu_simulator.job(job_id)["id"] == job_id
