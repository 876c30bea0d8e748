"""The RunPod adapter against the simulator, over real HTTP on loopback: endpoints, jobs
through every outcome, cancel, health, the webhook callback, auth and the error classes."""

import http.server
import json
import threading

import pytest
import urllib3

from infra.providers import get_provider
from infra.providers.base import JOB_STATES, EndpointSpec, ProviderError
from infra.providers.runpod import KNOWN_STATES, RunPodProvider

ADA = "NVIDIA RTX 6000 Ada Generation"
A100 = "NVIDIA A100 80GB PCIe"


def _spec(**changes) -> EndpointSpec:
    values = {
        "name": "comfy",
        "docker_image": "runpod/worker-comfyui:5.1.0-base",
        "gpu_type_ids": [ADA, A100],
        "gpu_count": 1,
        "min_workers": 0,
        "max_workers": 2,
        "idle_timeout_seconds": 5,
        "execution_timeout_seconds": 60,
        "env": {"HF_TOKEN": "hf_secret"},
    }
    values.update(changes)
    return EndpointSpec(**values)


@pytest.fixture
def sim(gpu_simulator):
    """The simulator with its clock stopped: each test moves time itself."""
    gpu_simulator.clock.freeze()
    return gpu_simulator


@pytest.fixture
def provider(sim) -> RunPodProvider:
    return get_provider()


@pytest.fixture
def endpoint(sim, provider) -> str:
    endpoint_id = provider.create_endpoint(_spec())
    sim.advance(sim.init_seconds)  # the workers are ready
    return endpoint_id


def _raw(sim, method: str, path: str, body=None, key: str | None = None):
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = key
    return urllib3.request(
        method,
        f"{sim.url}{path}",
        body=json.dumps(body).encode() if body is not None else None,
        headers=headers,
        retries=False,
    )


# -- get_provider ----------------------------------------------------------------------


def test_get_provider_is_the_runpod_adapter_at_the_configured_urls(sim, settings):
    provider = get_provider()
    assert isinstance(provider, RunPodProvider)
    assert provider.api_url == sim.api_url
    assert provider.rest_url == sim.rest_url
    assert get_provider() is provider  # one connection pool per configuration
    settings.RUNPOD_READ_TIMEOUT_SECONDS = 1.5
    assert get_provider() is not provider


def test_get_provider_refuses_when_gpu_is_off(settings):
    settings.GPU_ENABLED = False
    with pytest.raises(ProviderError) as caught:
        get_provider()
    assert caught.value.retryable is False


def test_get_provider_refuses_an_unknown_provider(settings):
    from django.core.exceptions import ImproperlyConfigured  # noqa: PLC0415 - one test

    settings.GPU_PROVIDER = "lambda"
    with pytest.raises(ImproperlyConfigured):
        get_provider()


def test_every_state_the_adapter_answers_has_one_mapping():
    assert set(JOB_STATES) == KNOWN_STATES
    assert set(JOB_STATES.values()) == {
        "queued",
        "running",
        "succeeded",
        "failed",
        "canceled",
        "timed_out",
    }


# -- endpoints -------------------------------------------------------------------------


def test_create_endpoint_makes_a_template_and_an_endpoint(sim, provider):
    endpoint_id = provider.create_endpoint(_spec(execution_timeout_seconds=900, gpu_count=2))
    endpoint = sim.endpoint(endpoint_id)
    assert endpoint["gpuTypeIds"] == [ADA, A100]  # priority order kept
    assert endpoint["gpuCount"] == 2
    assert (endpoint["workersMin"], endpoint["workersMax"]) == (0, 2)
    assert endpoint["idleTimeout"] == 5
    assert endpoint["executionTimeoutMs"] == 900_000
    (template,) = sim.state()["templates"]
    assert template["id"] == endpoint["templateId"]
    assert template["imageName"] == "runpod/worker-comfyui:5.1.0-base"
    assert template["env"] == {"HF_TOKEN": "hf_secret"}
    assert template["isServerless"] is True


def test_two_endpoints_of_the_same_name_get_two_templates(sim, provider):
    first = provider.create_endpoint(_spec())
    second = provider.create_endpoint(_spec())
    assert first != second
    assert len(sim.state()["templates"]) == 2


def test_update_endpoint_changes_the_template_and_the_endpoint(sim, provider, endpoint):
    provider.update_endpoint(
        endpoint,
        _spec(
            docker_image="runpod/worker-comfyui:5.2.0-flux1-dev",
            env={"HF_TOKEN": "hf_new"},
            gpu_type_ids=[A100],
            min_workers=1,
            max_workers=3,
            idle_timeout_seconds=30,
            execution_timeout_seconds=120,
        ),
    )
    state = sim.endpoint(endpoint)
    assert state["gpuTypeIds"] == [A100]
    assert (state["workersMin"], state["workersMax"], state["idleTimeout"]) == (1, 3, 30)
    assert state["executionTimeoutMs"] == 120_000
    (template,) = sim.state()["templates"]
    assert template["imageName"] == "runpod/worker-comfyui:5.2.0-flux1-dev"
    assert template["env"] == {"HF_TOKEN": "hf_new"}
    # A new image is a new release: the workers initialise again.
    assert provider.health(endpoint).workers_initializing == 3


def test_changing_only_the_workers_rolls_out_no_new_release(sim, provider, endpoint):
    provider.update_endpoint(endpoint, _spec(max_workers=4, idle_timeout_seconds=60))
    assert sim.endpoint(endpoint)["workersMax"] == 4
    health = provider.health(endpoint)
    assert (health.workers_initializing, health.workers_idle) == (0, 4)
    # A new environment is a new release, as a new image is.
    provider.update_endpoint(endpoint, _spec(max_workers=4, env={"HF_TOKEN": "other"}))
    assert provider.health(endpoint).workers_initializing == 4


def test_delete_endpoint_removes_it_and_its_template_and_may_be_repeated(sim, provider, endpoint):
    provider.delete_endpoint(endpoint)
    state = sim.state()
    assert state["endpoints"] == []
    assert state["templates"] == []
    provider.delete_endpoint(endpoint)  # already gone: still a success


def test_a_refused_endpoint_leaves_no_template_behind(sim, provider):
    sim.add_fault("error", status=500, path="/v1/endpoints", method="POST")
    with pytest.raises(ProviderError) as caught:
        provider.create_endpoint(_spec())
    assert caught.value.retryable is True
    assert caught.value.status == 500
    assert sim.state()["templates"] == []


def test_a_refused_spec_is_not_retryable(sim, provider):
    with pytest.raises(ProviderError) as caught:
        provider.create_endpoint(_spec(gpu_type_ids=[]))
    assert caught.value.retryable is False
    assert caught.value.status == 400
    assert "gpuTypeIds" in str(caught.value)


# -- jobs ------------------------------------------------------------------------------


def test_a_job_goes_queued_running_succeeded_with_its_times(sim, provider, endpoint):
    queued = provider.run(endpoint, {"input": {"prompt": "a red fox"}})
    assert queued.status == "IN_QUEUE"
    assert queued.provider_job_id
    job_id = queued.provider_job_id

    assert provider.status(endpoint, job_id).status == "IN_QUEUE"
    sim.advance(sim.queue_delay)
    running = provider.status(endpoint, job_id)
    assert running.status == "IN_PROGRESS"
    assert running.delay_ms == 500
    assert running.execution_ms is None
    assert running.gpu_type_id == ADA  # the endpoint's first-priority GPU

    sim.advance(1.999)
    assert provider.status(endpoint, job_id).status == "IN_PROGRESS"
    sim.advance(0.001)
    done = provider.status(endpoint, job_id)
    assert done.status == "COMPLETED"
    assert JOB_STATES[done.status] == "succeeded"
    assert done.execution_ms == 2000  # the default job runs 2 s
    assert done.delay_ms == 500
    assert done.output["input"] == {"prompt": "a red fox"}
    assert done.output["images"][0]["filename"].endswith(".png")
    assert done.gpu_type_id == ADA
    assert done.error == ""


@pytest.mark.parametrize(
    ("outcome", "seconds", "raw", "execution_ms"),
    [
        ("succeeded", 7.25, "COMPLETED", 7250),
        ("failed", 3, "FAILED", 3000),
        ("timed_out", 1, "TIMED_OUT", 60_000),  # runs until the execution timeout
    ],
)
def test_the_input_decides_the_outcome(
    sim, provider, endpoint, outcome, seconds, raw, execution_ms
):
    job = provider.run(endpoint, {"input": {"simulate": {"outcome": outcome, "seconds": seconds}}})
    sim.advance(sim.queue_delay + 59.999)
    assert provider.status(endpoint, job.provider_job_id).status in {raw, "IN_PROGRESS"}
    sim.advance(0.001)
    final = provider.status(endpoint, job.provider_job_id)
    assert final.status == raw
    assert final.execution_ms == execution_ms
    if raw == "COMPLETED":
        assert final.output is not None
    else:
        assert final.output is None
        assert final.error


def test_a_failed_job_carries_its_error(sim, provider, endpoint):
    job = provider.run(
        endpoint, {"input": {"simulate": {"outcome": "failed", "error": "CUDA out of memory"}}}
    )
    sim.advance(10)
    final = provider.status(endpoint, job.provider_job_id)
    assert (final.status, final.error) == ("FAILED", "CUDA out of memory")


def test_the_run_policy_execution_timeout_stops_a_long_job(sim, provider, endpoint):
    job = provider.run(
        endpoint, {"input": {"simulate": {"seconds": 30}}}, execution_timeout_seconds=10
    )
    sim.advance(sim.queue_delay + 10)
    final = provider.status(endpoint, job.provider_job_id)
    assert final.status == "TIMED_OUT"
    assert final.execution_ms == 10_000


def test_an_input_the_worker_cannot_use_fails_the_job(sim, provider, endpoint):
    job = provider.run(endpoint, {"input": {"simulate": {"outcome": "exploded"}}})
    sim.advance(sim.queue_delay)
    final = provider.status(endpoint, job.provider_job_id)
    assert final.status == "FAILED"
    assert "simulate.outcome" in final.error


def test_jobs_wait_for_a_free_worker_and_cold_start_is_delay_not_execution(sim, provider):
    endpoint = provider.create_endpoint(_spec(max_workers=1))
    first = provider.run(endpoint, {"input": {"simulate": {"seconds": 2}}})
    second = provider.run(endpoint, {"input": {"simulate": {"seconds": 2}}})
    # The workers initialise (1 s) before the first job starts.
    sim.advance(sim.init_seconds)
    assert provider.status(endpoint, first.provider_job_id).status == "IN_PROGRESS"
    assert provider.status(endpoint, second.provider_job_id).status == "IN_QUEUE"
    health = provider.health(endpoint)
    assert (health.workers_running, health.jobs_in_queue, health.jobs_in_progress) == (1, 1, 1)
    sim.advance(4)
    first_done = provider.status(endpoint, first.provider_job_id)
    second_done = provider.status(endpoint, second.provider_job_id)
    assert (first_done.delay_ms, first_done.execution_ms) == (1000, 2000)
    assert (second_done.delay_ms, second_done.execution_ms) == (3000, 2000)


def test_the_gpu_that_ran_a_job_is_reported_and_cached(sim, provider, endpoint):
    job = provider.run(endpoint, {"input": {"simulate": {"gpu": A100, "seconds": 1}}})
    sim.advance(2)
    assert provider.status(endpoint, job.provider_job_id).gpu_type_id == A100
    before = sim.request_count
    assert provider.status(endpoint, job.provider_job_id).gpu_type_id == A100
    assert sim.request_count == before + 1  # the status only: the worker's GPU is cached


def test_an_unknown_job_is_not_retryable(sim, provider, endpoint):
    with pytest.raises(ProviderError) as caught:
        provider.status(endpoint, "no-such-job-u1")
    assert (caught.value.status, caught.value.retryable) == (404, False)


def test_a_job_on_an_unknown_endpoint_is_refused(sim, provider):
    with pytest.raises(ProviderError) as caught:
        provider.run("nosuchendpoint", {"input": {"prompt": "x"}})
    assert (caught.value.status, caught.value.retryable) == (404, False)


# -- cancel ----------------------------------------------------------------------------


def test_cancel_a_queued_job_executed_nothing(sim, provider, endpoint):
    job = provider.run(endpoint, {"input": {"simulate": {"seconds": 5}}})
    cancelled = provider.cancel(endpoint, job.provider_job_id)
    assert cancelled.status == "CANCELLED"
    assert JOB_STATES[cancelled.status] == "canceled"
    assert cancelled.execution_ms is None
    sim.advance(10)
    assert provider.status(endpoint, job.provider_job_id).status == "CANCELLED"


def test_cancel_a_running_job_reports_the_time_it_ran(sim, provider, endpoint):
    job = provider.run(endpoint, {"input": {"simulate": {"seconds": 30}}})
    sim.advance(sim.queue_delay + 4.2)
    cancelled = provider.cancel(endpoint, job.provider_job_id)
    assert cancelled.status == "CANCELLED"
    assert cancelled.execution_ms == 4200
    assert cancelled.gpu_type_id == ADA
    sim.advance(60)
    assert provider.status(endpoint, job.provider_job_id).execution_ms == 4200


def test_cancel_a_finished_job_changes_nothing(sim, provider, endpoint):
    job = provider.run(endpoint, {"input": {"simulate": {"seconds": 1}}})
    sim.advance(5)
    assert provider.cancel(endpoint, job.provider_job_id).status == "COMPLETED"


# -- health ----------------------------------------------------------------------------


def test_health_goes_initializing_then_idle_then_running(sim, provider):
    endpoint = provider.create_endpoint(_spec(max_workers=2))
    health = provider.health(endpoint)
    assert (health.workers_initializing, health.workers_idle, health.workers_running) == (2, 0, 0)
    sim.advance(sim.init_seconds)
    health = provider.health(endpoint)
    assert (health.workers_initializing, health.workers_idle, health.workers_running) == (0, 2, 0)
    provider.run(endpoint, {"input": {"simulate": {"seconds": 5}}})
    sim.advance(sim.queue_delay)
    health = provider.health(endpoint)
    assert (health.workers_idle, health.workers_running, health.jobs_in_progress) == (1, 1, 1)
    assert health.workers_unhealthy == 0


def test_an_image_that_cannot_start_reports_unhealthy_workers(sim, provider):
    endpoint = provider.create_endpoint(_spec(docker_image="example/app:simulate-unhealthy"))
    sim.advance(60)
    health = provider.health(endpoint)
    assert health.workers_unhealthy == 2
    assert health.workers_idle == 0
    job = provider.run(endpoint, {"input": {"prompt": "x"}})
    sim.advance(60)
    assert provider.status(endpoint, job.provider_job_id).status == "IN_QUEUE"


# -- the webhook callback --------------------------------------------------------------


class _Receiver:
    """A loopback webhook receiver answering the given statuses in turn (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback?token=abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receivers = []

    def make(statuses=()):
        receivers.append(_Receiver(statuses))
        return receivers[-1]

    yield make
    for each in receivers:
        each.close()


def test_the_final_status_is_posted_to_the_webhook(sim, provider, endpoint, receiver):
    hook = receiver()
    job = provider.run(endpoint, {"input": {"simulate": {"seconds": 3}}}, webhook_url=hook.url)
    sim.advance(1)
    assert sim.wait_webhooks()
    assert hook.bodies == []  # nothing before the job ends
    sim.advance(3)
    assert sim.wait_webhooks()
    (body,) = hook.bodies
    assert body == sim.job(job.provider_job_id)
    assert body["status"] == "COMPLETED"
    assert body["executionTime"] == 3000
    assert body["workerId"]


def test_a_failing_webhook_receiver_is_tried_three_times(sim, provider, endpoint, receiver):
    hook = receiver(statuses=[500, 503])
    job = provider.run(
        endpoint, {"input": {"simulate": {"outcome": "failed"}}}, webhook_url=hook.url
    )
    sim.advance(5)
    assert sim.wait_webhooks()
    assert [b["status"] for b in hook.bodies] == ["FAILED"] * 3
    log = [e for e in sim.webhook_log if e["jobId"] == job.provider_job_id]
    assert [(e["attempt"], e["status"]) for e in log] == [(1, 500), (2, 503), (3, 200)]


# -- auth and errors -------------------------------------------------------------------


def test_a_request_without_the_key_is_refused(sim):
    assert _raw(sim, "GET", "/v1/endpoints").status == 401
    assert _raw(sim, "GET", "/v1/endpoints", key="Bearer wrong").status == 401
    assert _raw(sim, "GET", "/v1/endpoints", key=f"Bearer {sim.api_key}").status == 200
    # RunPod's serverless API also takes the bare key.
    assert _raw(sim, "GET", "/v1/endpoints", key=sim.api_key).status == 200


def test_the_adapter_with_a_wrong_key_gets_a_non_retryable_error(sim):
    provider = RunPodProvider(api_key="wrong", api_url=sim.api_url, rest_url=sim.rest_url)
    with pytest.raises(ProviderError) as caught:
        provider.create_endpoint(_spec())
    assert (caught.value.status, caught.value.retryable) == (401, False)


@pytest.mark.parametrize(
    ("fault", "retryable", "status"),
    [
        ({"mode": "error", "status": 500}, True, 500),
        ({"mode": "error", "status": 502}, True, 502),
        ({"mode": "error", "status": 503}, True, 503),
        ({"mode": "error", "status": 429}, True, 429),
        ({"mode": "error", "status": 400}, False, 400),
        ({"mode": "error", "status": 403}, False, 403),
        ({"mode": "drop"}, True, None),
        ({"mode": "timeout", "delay": 5}, True, None),
        ({"mode": "garbage"}, False, 200),
        ({"mode": "garbage", "body": "[" * 100_000 + "]" * 100_000}, False, 200),
        ({"mode": "garbage", "body": '{"id": 1e999999, "status": "IN_QUEUE"}'}, False, None),
        ({"mode": "malformed"}, False, None),
    ],
)
def test_provider_faults_become_provider_errors(sim, settings, endpoint, fault, retryable, status):
    settings.RUNPOD_READ_TIMEOUT_SECONDS = 0.3
    provider = get_provider()
    job = provider.run(endpoint, {"input": {"prompt": "x"}})
    sim.add_fault(path=f"/v2/{endpoint}/status/", **fault)
    with pytest.raises(ProviderError) as caught:
        provider.status(endpoint, job.provider_job_id)
    assert caught.value.retryable is retryable
    assert caught.value.status == status
    # The fault was one request: the job is still there, and the next poll sees it.
    assert provider.status(endpoint, job.provider_job_id).status == "IN_QUEUE"


@pytest.mark.parametrize("operation", ["run", "health", "cancel"])
def test_every_operation_surfaces_a_5xx_as_retryable(sim, provider, endpoint, operation):
    job = provider.run(endpoint, {"input": {"prompt": "x"}})
    sim.add_fault("error", status=503, path=f"/v2/{endpoint}/")
    with pytest.raises(ProviderError) as caught:
        if operation == "run":
            provider.run(endpoint, {"input": {"prompt": "y"}})
        elif operation == "health":
            provider.health(endpoint)
        else:
            provider.cancel(endpoint, job.provider_job_id)
    assert caught.value.retryable is True
    # Nothing happened on the provider's side: the job still waits.
    assert sim.job(job.provider_job_id)["status"] == "IN_QUEUE"


def test_a_provider_that_is_down_is_retryable(settings):
    provider = RunPodProvider(
        api_key="k", api_url="http://127.0.0.1:9/v2", rest_url="http://127.0.0.1:9/v1"
    )
    with pytest.raises(ProviderError) as caught:
        provider.health("anything")
    assert caught.value.retryable is True
    assert caught.value.status is None


def test_a_status_about_another_job_is_malformed(sim, provider, endpoint):
    first = provider.run(endpoint, {"input": {"prompt": "x"}})
    second = provider.run(endpoint, {"input": {"prompt": "y"}})
    # Ask for the first job with a path whose answer will be about the second one: the
    # simulator never does that, so fake it with the private hook.
    sim._jobs[first.provider_job_id].id = second.provider_job_id
    with pytest.raises(ProviderError) as caught:
        provider.status(endpoint, first.provider_job_id)
    assert caught.value.retryable is False


def test_an_answer_past_the_size_limit_is_refused_and_the_pool_still_works(sim, settings, endpoint):
    settings.RUNPOD_MAX_RESPONSE_BYTES = 100_000
    provider = get_provider()
    big = provider.run(endpoint, {"input": {"simulate": {"output_bytes": 200_000, "seconds": 1}}})
    small = provider.run(endpoint, {"input": {"simulate": {"seconds": 1}}})
    sim.advance(5)
    with pytest.raises(ProviderError) as caught:
        provider.status(endpoint, big.provider_job_id)
    assert caught.value.retryable is False
    assert "larger than 100000 bytes" in str(caught.value)
    assert provider.status(endpoint, small.provider_job_id).status == "COMPLETED"


def test_the_run_payload_is_the_run_body(sim, provider, endpoint):
    with pytest.raises(ValueError, match="input"):
        provider.run(endpoint, {"prompt": "x"})
    # Other RunPod keys pass through; the adapter's timeout joins the given policy.
    job = provider.run(
        endpoint,
        {"input": {"simulate": {"seconds": 100}}, "policy": {"ttl": 20_000}},
        execution_timeout_seconds=30,
    )
    sim.advance(sim.queue_delay + 30)
    assert provider.status(endpoint, job.provider_job_id).execution_ms == 30_000


def test_a_job_may_ask_for_its_own_queue_time(sim, provider, endpoint):
    job = provider.run(endpoint, {"input": {"simulate": {"queue_seconds": 3, "seconds": 1}}})
    sim.advance(2.9)
    assert provider.status(endpoint, job.provider_job_id).status == "IN_QUEUE"
    sim.advance(0.1)
    running = provider.status(endpoint, job.provider_job_id)
    assert (running.status, running.delay_ms) == ("IN_PROGRESS", 3000)


def test_a_webhook_url_nobody_answers_is_tried_three_times(sim, provider, endpoint):
    job = provider.run(
        endpoint, {"input": {"simulate": {"seconds": 1}}}, webhook_url="http://127.0.0.1:9/hook"
    )
    sim.advance(3)
    assert sim.wait_webhooks()
    log = [e for e in sim.webhook_log if e["jobId"] == job.provider_job_id]
    assert [(e["attempt"], e["status"]) for e in log] == [(1, None), (2, None), (3, None)]
    assert all(e["error"] for e in log)
