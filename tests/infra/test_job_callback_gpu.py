"""A job settled by the provider's callback alone is billed at the rate of the GPU that ran
it, not at the deployment's first-priority GPU.

Everything is real HTTP: the console's RunPod adapter talks to the simulator
(``gpu_simulator``), and the simulator POSTs the job's final status to the job's callback
URL on a live server, as RunPod does. Nobody polls: the clock is frozen and moved by hand,
and no beat runs. RunPod's callback body names the worker, not the GPU, so the console asks
``status()``, which reports the worker's GPU.
"""

import json
import time

import pytest
from django.test import Client

from billing.models import Hold, LedgerEntry, Wallet
from infra import jobs
from infra.models import Deployment, GpuJob, GpuType
from infra.services import deployment_create, deployment_refresh
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import fund, key_make, personal
from tests.webhooks.receiver import Receiver
from usage.models import UsageEvent
from webhooks.models import WebhookMessage

pytestmark = pytest.mark.django_db(transaction=True)

FIRST, SECOND = "CBTEST_FIRST", "CBTEST_SECOND"
RATES = {FIRST: 150, SECOND: 610}  # µcr per second of one GPU
PROVIDER_IDS = {FIRST: "NVIDIA Callback First", SECOND: "NVIDIA Callback Second"}
GPU_COUNT = 2
TIMEOUT = 600
HOLD = TIMEOUT * GPU_COUNT * RATES[SECOND]  # 732,000 µcr: the dearest allowed type
#: 18.42 s on SECOND: 18,420 ms × 2 × 610 ÷ 1000 = 22,472.4 → 22,472 µcr (rounded down).
SECONDS = 18.42
CHARGED = 22_472
#: What the bug billed: the same time at FIRST's rate (18,420 × 2 × 150 ÷ 1000).
CHARGED_AT_FIRST = 5_526


@pytest.fixture
def scene(gpu_simulator, live_server, settings):
    """A funded personal account, its ``ck_`` key, and a ready deployment on
    ``[FIRST, SECOND]`` created through the service (so its endpoint is the simulator's),
    with a webhook URL on a receiver. Job callbacks go to the live server."""
    settings.GPU_CALLBACK_BASE_URL = live_server.url
    settings.ALLOW_PRIVATE_OUTBOUND = True  # the receiver listens on loopback over http
    gpu_simulator.clock.freeze()
    for position, code in enumerate((FIRST, SECOND)):
        GpuType.objects.update_or_create(
            code=code,
            defaults={
                "name": code,
                "memory_gb": 48,
                "microcredits_per_second": RATES[code],
                "provider_gpu_id": PROVIDER_IDS[code],
                "sort_order": 200 + position,
            },
        )
    user = UserFactory()
    org = personal(user)
    fund(org, 10)
    _key, secret = key_make(org=org, actor=user, name="gpu")
    receiver = Receiver()
    created = deployment_create(
        organization=org,
        actor=user,
        slug="comfy-callback",
        docker_image="runpod/worker-comfyui:5.1.0-base",
        gpu_types=[FIRST, SECOND],
        gpu_count=GPU_COUNT,
        max_workers=2,
        execution_timeout_seconds=TIMEOUT,
        webhook_url=receiver.url("/gpu"),
    )
    receiver.secrets = [created.webhook_secret]
    gpu_simulator.advance(2)  # the endpoint's workers initialise
    deployment = deployment_refresh(deployment=created.deployment)
    assert deployment.status == Deployment.Status.READY and deployment.provider_endpoint_id
    yield {
        "user": user,
        "org": org,
        "auth": {"HTTP_AUTHORIZATION": f"Bearer {secret}"},
        "deployment": deployment,
        "receiver": receiver,
        "sim": gpu_simulator,
    }
    receiver.close()


def submit(client: Client, scene) -> GpuJob:
    simulate = {"gpu": PROVIDER_IDS[SECOND], "seconds": SECONDS, "queue_seconds": 0.5}
    response = client.post(
        f"/v1/gpu/run/{scene['deployment'].slug}",
        {"input": {"prompt": "an astronaut", "simulate": simulate}},
        content_type="application/json",
        **scene["auth"],
    )
    assert response.status_code == 200, response.content
    return GpuJob.objects.get(public_id=response.json()["job_id"])


def finish_and_call_back(sim) -> dict:
    """Run the job to its end on the simulator; it POSTs the final status to the job's
    callback URL (the live server). Answers that delivery."""
    sim.advance(SECONDS + 5)
    assert sim.wait_webhooks(timeout=20)
    [delivery] = sim.webhook_log
    return delivery


def captures(job: GpuJob) -> list[LedgerEntry]:
    return list(
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD_CAPTURE, reference=job.hold.reference)
    )


def assert_settled_on_the_second_gpu(job: GpuJob, scene, start: int) -> None:
    job.refresh_from_db()
    assert job.status == "succeeded" and job.settled_at is not None
    assert job.gpu_type == SECOND
    assert job.execution_ms == 18_420
    assert 18_420 * GPU_COUNT * RATES[SECOND] // 1000 == CHARGED
    assert job.charged_microcredits == CHARGED != CHARGED_AT_FIRST
    [entry] = captures(job)
    assert entry.amount_microcredits == -CHARGED
    hold = Hold.objects.get(pk=job.hold_id)
    assert hold.status == Hold.Status.CAPTURED and hold.captured_microcredits == CHARGED
    wallet = Wallet.objects.get(organization=scene["org"])
    assert wallet.balance_microcredits == start - CHARGED
    assert wallet.held_microcredits == 0
    [event] = UsageEvent.objects.filter(request_id=f"gpujob:{job.public_id}")
    assert event.cost_microcredits == CHARGED


def test_the_callback_alone_bills_the_gpu_that_ran_the_job(client, scene):
    start = Wallet.objects.get(organization=scene["org"]).balance_microcredits
    job = submit(client, scene)
    assert Hold.objects.get(pk=job.hold_id).amount_microcredits == HOLD
    assert job.gpu_type == FIRST  # what it was expected to run on, until it ran

    delivery = finish_and_call_back(scene["sim"])
    assert delivery["jobId"] == job.provider_job_id and delivery["status"] == 200
    body = scene["sim"].job(job.provider_job_id)
    assert "gpuTypeId" not in body and body["workerId"]  # the body does not name the GPU
    workers = scene["sim"].endpoint(scene["deployment"].provider_endpoint_id)["workers"]
    gpu_of = {w["id"]: w.get("machine", {}).get("gpuTypeId") for w in workers}
    assert gpu_of[body["workerId"]] == PROVIDER_IDS[SECOND]
    assert_settled_on_the_second_gpu(job, scene, start)

    # A replayed callback changes nothing.
    url = f"/internal/gpu/callback/{job.public_id}?token={jobs.callback_token(job)}"
    replay = client.post(url, body, content_type="application/json")
    assert replay.status_code == 200 and replay.json()["status"] == "succeeded"
    assert len(captures(job)) == 1

    # The deployment's webhook URL got job.succeeded, signed with its own secret, and the
    # delivery is in the deployment's delivery log.
    (got,) = scene["receiver"].wait_for(1)
    payload = json.loads(got.body)
    assert payload["type"] == "job.succeeded" and got.verified
    assert payload["data"]["gpuType"] == SECOND
    assert payload["data"]["creditsCharged"] == 0.022472
    message = WebhookMessage.objects.get(deployment=scene["deployment"])
    assert message.status == "succeeded" and message.event_id == got.headers["webhook-id"]
    viewer = Client()
    viewer.force_login(scene["user"])
    page = viewer.get(f"/infra/deployments/{scene['deployment'].slug}/webhooks")
    assert page.status_code == 200
    assert f'data-message="{message.event_id}"' in page.content.decode()


def test_a_callback_before_the_run_answer_is_followed_not_resubmitted(client, scene, settings):
    settings.RUNPOD_READ_TIMEOUT_SECONDS = 0.5
    endpoint = scene["deployment"].provider_endpoint_id
    sim = scene["sim"]
    # /run is taken by the simulator, but its answer comes after we stopped waiting.
    sim.add_fault("timeout", delay=1.5, path=f"/v2/{endpoint}/run", method="POST")
    start = Wallet.objects.get(organization=scene["org"]).balance_microcredits
    job = submit(client, scene)
    assert not job.provider_job_id and job.provider_error

    deadline = time.monotonic() + 10
    while not sim.state()["jobs"]:
        assert time.monotonic() < deadline, "the simulator never took the job"
        time.sleep(0.05)
    [sim_job] = sim.state()["jobs"]

    delivery = finish_and_call_back(sim)
    assert delivery["status"] == 200
    job.refresh_from_db()
    assert job.provider_job_id == sim_job["id"]
    assert_settled_on_the_second_gpu(job, scene, start)
    assert len(sim.state()["jobs"]) == 1  # nobody submitted it a second time


def test_a_callback_that_cannot_confirm_the_state_leaves_it_to_the_next_poll(client, scene):
    start = Wallet.objects.get(organization=scene["org"]).balance_microcredits
    job = submit(client, scene)
    endpoint = scene["deployment"].provider_endpoint_id
    # The callback's status() is refused once: the body alone does not settle the job.
    scene["sim"].add_fault(
        "error", status=503, path=f"/v2/{endpoint}/status/{job.provider_job_id}", method="GET"
    )
    delivery = finish_and_call_back(scene["sim"])
    assert delivery["status"] == 200
    job.refresh_from_db()
    assert job.settled_at is None and job.charged_microcredits is None
    assert "503" in job.provider_error
    assert Hold.objects.get(pk=job.hold_id).status == Hold.Status.OPEN
    assert captures(job) == []

    # The customer's next poll asks status() and settles it on the GPU that ran it.
    poll = client.get(f"/v1/gpu/jobs/{job.public_id}", **scene["auth"])
    assert poll.status_code == 200 and poll.json()["status"] == "succeeded"
    assert_settled_on_the_second_gpu(job, scene, start)
