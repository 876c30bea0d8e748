"""A GPU job's life against the simulator, through the real RunPod adapter over HTTP: submit,
hold, running, success settled exactly, failure and timeout refunded, cancel in both states,
provider errors retried, a hold expiring under a running job, the provider's callback; the
ledger stays consistent. The simulator's clock is frozen (the ``sim`` fixture): each test
moves it, so every executed time, and every charge, is exact."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing import ledger
from billing.models import Hold, LedgerEntry, Wallet
from infra import jobs
from infra.models import GpuJob, GpuType
from usage.models import UsageEvent

from .gpuscene import (
    BIG,
    CREDIT,
    RATES,
    captures,
    hold_of,
    make_scene,
    provider_jobs,
    provider_status,
    wait_for,
)

pytestmark = pytest.mark.django_db

HOLD = 600 * 2 * RATES["JOBTEST_BIG"]  # timeout × GPUs × the highest allowed rate
OUTPUT = {"images": ["https://cdn.example/out.png"]}


def run(client, scene, simulate: dict | None = None, **body):
    payload = {"input": {"prompt": "an astronaut", **({"simulate": simulate} if simulate else {})}}
    payload.update(body)
    return client.post(
        f"/v1/gpu/run/{scene.deployment.slug}",
        payload,
        content_type="application/json",
        **scene.auth(),
    )


def poll(client, scene, job_id: str):
    return client.get(f"/v1/gpu/jobs/{job_id}", **scene.auth())


def poll_until_final(client, scene, job_id: str) -> dict:
    def final():
        body = poll(client, scene, job_id).json()
        return body if body["status"] in GpuJob.FINAL else None

    return wait_for(final)


def ledger_clean() -> None:
    out, err = StringIO(), StringIO()
    call_command("ledger_check", stdout=out, stderr=err)
    assert "Ledger consistent" in out.getvalue(), err.getvalue()


def test_submit_holds_the_worst_case_and_answers_queued(client, scene, sim):
    before = scene.wallet
    response = run(client, scene, {"queue_seconds": 30})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"job_id", "status", "provider_job_id"}
    assert body["status"] == "queued"
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert body["provider_job_id"] == job.provider_job_id and job.provider_job_id
    assert provider_status(sim, job) == "IN_QUEUE"
    hold = hold_of(job)
    assert hold.status == Hold.Status.OPEN and hold.amount_microcredits == HOLD
    assert hold.key_id == scene.key.pk
    # The hold expires with the job: its timeout plus the grace.
    assert (hold.expires_at - job.timeout_at).total_seconds() == pytest.approx(300, abs=2)
    wallet = scene.wallet
    assert wallet.held_microcredits == before.held_microcredits + HOLD
    assert wallet.balance_microcredits == before.balance_microcredits
    # The provider got the input (its worker echoes it) and a callback URL with the
    # job's token, which it calls once the job is done.
    sim.advance(30 + 2)
    assert sim.job(job.provider_job_id)["output"]["input"]["prompt"] == "an astronaut"
    assert sim.wait_webhooks()
    [first, *_retries] = [hook for hook in sim.webhook_log if hook["jobId"] == job.provider_job_id]
    assert first["url"].endswith(
        f"/internal/gpu/callback/{job.public_id}?token={jobs.callback_token(job)}"
    )


def test_success_is_settled_exactly_on_the_gpu_that_ran_it(client, scene, sim):
    start = scene.wallet.balance_microcredits
    body = run(client, scene, {"seconds": 18.42, "gpu": BIG, "output": OUTPUT}).json()
    seen = [poll(client, scene, body["job_id"]).json()["status"]]
    sim.advance(sim.queue_delay)
    seen.append(poll(client, scene, body["job_id"]).json()["status"])
    sim.advance(18.42)
    final = poll(client, scene, body["job_id"]).json()
    assert seen == ["queued", "running"]
    # 18,420 ms × 2 GPUs × 610 µcr/s = 22,472.4 µcr, rounded down.
    charged = 18420 * 2 * 610 // 1000
    assert charged == 22472
    assert final == {
        "job_id": body["job_id"],
        "status": "succeeded",
        "provider_job_id": body["provider_job_id"],
        "output": OUTPUT,
        "error": None,
        "executionMs": 18420,
        "creditsCharged": final["creditsCharged"],
        "creditsHeld": final["creditsHeld"],
        "providerError": None,
    }
    assert Decimal(str(final["creditsCharged"])) == Decimal("0.022472")
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert job.charged_microcredits == charged and job.gpu_type == "JOBTEST_BIG"
    [entry] = captures(job)
    assert entry.amount_microcredits == -charged
    wallet = scene.wallet
    assert wallet.balance_microcredits == start - charged
    assert wallet.held_microcredits == 0
    assert hold_of(job).status == Hold.Status.CAPTURED
    [event] = UsageEvent.objects.filter(request_id=f"gpujob:{job.public_id}")
    assert (event.endpoint, event.model, event.cost_microcredits, event.key_id) == (
        "gpu",
        scene.deployment.slug,
        charged,
        scene.key.pk,
    )
    assert event.status_code == 200 and event.seconds == 19
    # The usage event is not a second debit: the only movement is the capture.
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE, wallet=wallet).exists()
    ledger_clean()


def test_a_gpu_that_is_none_of_the_deployments_types_is_billed_at_the_first(client, scene, sim):
    # The job runs on the endpoint's second GPU, which staff then map to another id: the
    # GPU the provider reports is none of the deployment's types any more.
    GpuType.objects.filter(code="JOBTEST_BIG").update(provider_gpu_id="NVIDIA Renamed")
    body = run(client, scene, {"seconds": 18.42, "gpu": BIG}).json()
    sim.advance(sim.queue_delay + 18.42)
    poll_until_final(client, scene, body["job_id"])
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert job.gpu_type == "JOBTEST_SMALL"
    assert job.charged_microcredits == 18420 * 2 * 150 // 1000


def test_a_gpu_the_provider_cannot_tell_is_billed_at_the_first_priority_type(client, scene, sim):
    body = run(client, scene, {"seconds": 18.42, "gpu": BIG}).json()
    sim.advance(sim.queue_delay + 18.42)
    # The worker list (which GPU each worker has) does not answer: the status still does.
    sim.add_fault("error", status=503, path="/v1/endpoints", method="GET")
    final = poll(client, scene, body["job_id"]).json()
    assert final["status"] == "succeeded" and sim.faults() == []
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert job.gpu_type == "JOBTEST_SMALL"
    assert job.charged_microcredits == 18420 * 2 * 150 // 1000


def test_the_charge_is_capped_at_the_hold(client, sim):
    small = make_scene(sim, timeout=1)  # holds 1 s × 2 × 610 = 1,220 µcr
    # RunPod's shortest execution timeout is 5 s: the job may run that long.
    body = run(client, small, {"seconds": 5, "gpu": BIG}).json()
    sim.advance(sim.queue_delay + 5)
    final = poll_until_final(client, small, body["job_id"])
    assert final["status"] == "succeeded" and final["executionMs"] == 5000
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert hold_of(job).amount_microcredits == 1220
    assert job.charged_microcredits == 1220  # not 5 s × 2 × 610 = 6,100
    ledger_clean()


@pytest.mark.parametrize(("outcome", "status"), [("failed", "failed"), ("timed_out", "timed_out")])
def test_failure_and_provider_timeout_are_refunded_in_full(client, scene, sim, outcome, status):
    start = scene.wallet
    simulate = {"seconds": 9, "outcome": outcome, "error": "CUDA out of memory"}
    body = run(client, scene, simulate).json()
    sim.advance(sim.queue_delay + 600)  # past the execution timeout, for "timed_out"
    final = poll_until_final(client, scene, body["job_id"])
    assert final["status"] == status and final["creditsCharged"] == 0
    if outcome == "failed":  # the worker's error, after the 9 s it ran
        assert final["executionMs"] == 9000 and final["error"] == "CUDA out of memory"
    else:  # stopped by the provider at the 600 s execution timeout
        assert final["executionMs"] == 600_000 and "timed out" in final["error"]
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert hold_of(job).status == Hold.Status.RELEASED
    assert captures(job) == []
    wallet = scene.wallet
    assert (wallet.balance_microcredits, wallet.held_microcredits) == (
        start.balance_microcredits,
        start.held_microcredits,
    )
    event = UsageEvent.objects.get(request_id=f"gpujob:{job.public_id}")
    assert event.cost_microcredits == 0 and event.status_code >= 500
    ledger_clean()


def test_cancel_while_queued_is_a_full_refund(client, scene, sim):
    start = scene.wallet.balance_microcredits
    body = run(client, scene, {"queue_seconds": 60}).json()
    response = client.post(f"/v1/gpu/jobs/{body['job_id']}/cancel", **scene.auth())
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "canceled"
    assert response.json()["creditsCharged"] == 0
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert provider_status(sim, job) == "CANCELLED"
    assert hold_of(job).status == Hold.Status.RELEASED
    assert scene.wallet.balance_microcredits == start and scene.wallet.held_microcredits == 0
    # Cancelling again: the job is final.
    again = client.post(f"/v1/gpu/jobs/{body['job_id']}/cancel", **scene.auth())
    assert again.status_code == 409 and again.json()["error"]["type"] == "job_finished"
    ledger_clean()


def test_cancel_while_running_charges_the_executed_time(client, scene, sim):
    start = scene.wallet.balance_microcredits
    body = run(client, scene, {"queue_seconds": 0, "seconds": 60}).json()
    assert poll(client, scene, body["job_id"]).json()["status"] == "running"
    sim.advance(12.345)
    response = client.post(f"/v1/gpu/jobs/{body['job_id']}/cancel", **scene.auth())
    assert response.json()["status"] == "canceled"
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert sim.job(job.provider_job_id)["executionTime"] == job.execution_ms == 12345
    expected = 12345 * 2 * RATES["JOBTEST_SMALL"] // 1000
    assert job.charged_microcredits == expected == 3703
    assert scene.wallet.balance_microcredits == start - expected
    assert scene.wallet.held_microcredits == 0
    ledger_clean()


def test_sync_waits_inline_and_answers_the_poll_shape(client, scene, sim, settings):
    settings.GPU_JOB_SYNC_WAIT_SECONDS = 10
    sim.clock.resume()  # the job runs while the request waits (10× real time)
    response = run(client, scene, {"seconds": 1}, sync=True)
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "succeeded" and body["executionMs"] == 1000
    assert Decimal(str(body["creditsCharged"])) == Decimal("0.0003")


def test_sync_gives_up_after_the_configured_wait(client, scene, sim, settings):
    settings.GPU_JOB_SYNC_WAIT_SECONDS = 0.3
    body = run(client, scene, {"queue_seconds": 60}, sync=True).json()
    assert body["status"] == "queued" and body["creditsCharged"] is None


def test_a_provider_error_at_submit_keeps_the_job_and_its_hold(client, scene, sim, settings):
    settings.GPU_JOB_RETRY_BASE_SECONDS = 60
    sim.add_fault("error", status=503, path="/v2/")
    requests = sim.request_count
    response = run(client, scene, {"seconds": 1})
    assert response.status_code == 200
    job = GpuJob.objects.get(public_id=response.json()["job_id"])
    assert job.status == "queued" and not job.provider_job_id
    assert "503" in job.provider_error and job.provider_failures == 1
    assert hold_of(job).status == Hold.Status.OPEN
    assert provider_jobs(sim) == []
    # A poll within the backoff shows the error and does not hammer the provider.
    answer = poll(client, scene, job.public_id).json()
    assert answer["status"] == "queued" and "503" in answer["providerError"]
    assert sim.request_count == requests + 1
    # Once the backoff has passed, the beat poller submits it again, then settles it.
    GpuJob.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
    jobs.jobs_poll_due()
    job.refresh_from_db()
    assert job.provider_job_id and job.provider_error == ""
    sim.advance(sim.queue_delay + 1)
    assert provider_status(sim, job) == "COMPLETED"
    jobs.jobs_poll_due(now=timezone.now() + timezone.timedelta(seconds=60))
    job.refresh_from_db()
    assert job.status == "succeeded" and job.settled_at
    assert job.charged_microcredits == 1000 * 2 * 150 // 1000
    assert len(provider_jobs(sim)) == 1
    ledger_clean()


def test_provider_errors_while_polling_back_off_and_never_lose_the_job(client, scene, sim):
    body = run(client, scene, {"seconds": 1}).json()
    sim.add_fault("error", status=503, count=3, path="/v2/")
    for _ in range(3):
        answer = poll(client, scene, body["job_id"]).json()
        assert answer["status"] == "queued" and "503" in answer["providerError"]
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert job.provider_failures == 3 and job.next_check_at > timezone.now() - timezone.timedelta(
        seconds=1
    )
    sim.advance(sim.queue_delay + 1)
    final = poll_until_final(client, scene, body["job_id"])
    assert final["status"] == "succeeded"
    # The retried errors are history once the provider reports success.
    assert final["providerError"] is None
    job = GpuJob.objects.get(pk=job.pk)
    assert job.charged_microcredits == 1000 * 2 * 150 // 1000
    assert (job.provider_error, job.provider_failures) == ("", 0)


def test_the_beat_poller_settles_jobs_nobody_polls(client, scene, sim):
    body = run(client, scene, {"seconds": 2}).json()
    job = GpuJob.objects.get(public_id=body["job_id"])
    sim.advance(sim.queue_delay + 2)
    assert provider_status(sim, job) == "COMPLETED"
    assert jobs.jobs_poll_due(now=timezone.now() + timezone.timedelta(seconds=60)) >= 1
    job.refresh_from_db()
    assert job.status == "succeeded" and job.charged_microcredits == 2000 * 2 * 150 // 1000


def test_a_hold_expiring_under_a_running_job_times_it_out_refunded(
    client, scene, sim, django_capture_on_commit_callbacks
):
    start = scene.wallet.balance_microcredits
    body = run(client, scene, {"queue_seconds": 0, "seconds": 60}).json()
    assert poll(client, scene, body["job_id"]).json()["status"] == "running"
    sim.advance(30)
    job = GpuJob.objects.get(public_id=body["job_id"])
    Hold.objects.filter(pk=job.hold_id).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert ledger.holds_expire_due() == 1
    job.refresh_from_db()
    assert job.status == "timed_out" and job.charged_microcredits == 0 and job.settled_at
    assert "hold expired" in job.error
    assert hold_of(job).status == Hold.Status.EXPIRED
    assert scene.wallet.balance_microcredits == start and scene.wallet.held_microcredits == 0
    # The provider was told to stop it; a later poll changes nothing.
    assert provider_status(sim, job) == "CANCELLED"
    assert poll(client, scene, job.public_id).json()["status"] == "timed_out"
    ledger_clean()


def test_a_settlement_that_finds_its_hold_past_expiry_refunds(client, scene, sim):
    body = run(client, scene, {"seconds": 1}).json()
    job = GpuJob.objects.get(public_id=body["job_id"])
    sim.advance(sim.queue_delay + 1)
    assert provider_status(sim, job) == "COMPLETED"
    Hold.objects.filter(pk=job.hold_id).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    final = poll(client, scene, job.public_id).json()
    assert final["status"] == "timed_out" and final["creditsCharged"] == 0
    assert hold_of(job).status == Hold.Status.RELEASED
    assert ledger.holds_expire_due() == 0
    ledger_clean()


def test_a_job_past_its_timeout_is_cancelled_and_refunded(client, scene, sim):
    body = run(client, scene, {"queue_seconds": 0, "seconds": 60}).json()
    job = GpuJob.objects.get(public_id=body["job_id"])
    sim.advance(10)
    assert provider_status(sim, job) == "IN_PROGRESS"
    GpuJob.objects.filter(pk=job.pk).update(
        timeout_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    jobs.jobs_poll_due()
    job.refresh_from_db()
    assert job.status == "timed_out" and job.charged_microcredits == 0
    assert provider_status(sim, job) == "CANCELLED"
    assert hold_of(job).status == Hold.Status.RELEASED
    ledger_clean()


@pytest.mark.django_db(transaction=True)
def test_the_providers_callback_settles_a_job_nobody_polls(client, sim, live_server, settings):
    settings.GPU_CALLBACK_BASE_URL = live_server.url  # the simulator calls the console back
    scene = make_scene(sim)
    body = run(client, scene, {"seconds": 4, "gpu": BIG}).json()
    job = GpuJob.objects.get(public_id=body["job_id"])
    sim.advance(sim.queue_delay + 4)  # done: the simulator POSTs its status to the job's URL
    assert sim.wait_webhooks()
    [hook] = [h for h in sim.webhook_log if h["jobId"] == job.provider_job_id]
    assert hook["status"] == 200 and hook["url"].startswith(live_server.url)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.execution_ms == 4000
    # The body names the worker, not its GPU: billed on the GPU that worker has.
    assert "gpuTypeId" not in sim.job(job.provider_job_id)
    assert job.gpu_type == "JOBTEST_BIG"
    assert job.charged_microcredits == 4000 * 2 * 610 // 1000
    # The same callback again (RunPod retries when unsure) charges nothing more.
    url = f"/internal/gpu/callback/{job.public_id}?token={jobs.callback_token(job)}"
    again = client.post(url, sim.job(job.provider_job_id), content_type="application/json")
    assert again.status_code == 200 and again.json()["status"] == "succeeded"
    assert len(captures(job)) == 1
    ledger_clean()


def test_the_callback_needs_the_jobs_token(client, scene, sim):
    body = run(client, scene, {"seconds": 4, "gpu": BIG}).json()
    job = GpuJob.objects.get(public_id=body["job_id"])
    sim.advance(sim.queue_delay + 4)
    state = sim.job(job.provider_job_id)  # what the provider's callback carries
    assert state["status"] == "COMPLETED"
    url = f"/internal/gpu/callback/{job.public_id}"
    wrong = client.post(f"{url}?token=nope", state, content_type="application/json")
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_failed"
    assert client.post(url, state, content_type="application/json").status_code == 401
    other = make_scene(sim)
    assert (
        client.post(
            f"/internal/gpu/callback/{other.key.public_id}?token={jobs.callback_token(job)}",
            state,
            content_type="application/json",
        ).status_code
        == 401
    )
    job.refresh_from_db()
    assert job.status == "queued" and job.settled_at is None  # nothing polled it either
    response = client.post(
        f"{url}?token={jobs.callback_token(job)}", state, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["status"] == "succeeded"
    job.refresh_from_db()
    assert job.charged_microcredits == 4000 * 2 * 610 // 1000
    # A replayed callback charges nothing more.
    client.post(f"{url}?token={jobs.callback_token(job)}", state, content_type="application/json")
    assert len(captures(job)) == 1


def test_a_data_url_output_past_the_limit_is_refused_and_refunded(client, scene, sim, settings):
    settings.GPU_JOB_DATA_URL_MAX_BYTES = 1000
    big = "data:image/png;base64," + "A" * 2000
    body = run(client, scene, {"seconds": 1, "output": {"images": [big]}}).json()
    sim.advance(sim.queue_delay + 1)
    final = poll_until_final(client, scene, body["job_id"])
    assert final["status"] == "failed" and final["creditsCharged"] == 0
    assert "data: URL of 2022 bytes; the limit is 1000" in final["error"]
    assert final["output"] is None
    assert hold_of(GpuJob.objects.get(public_id=body["job_id"])).status == Hold.Status.RELEASED


def test_an_output_of_real_image_bytes_past_the_limit_is_refused(client, scene, sim, settings):
    settings.GPU_JOB_DATA_URL_MAX_BYTES = 10_000
    body = run(client, scene, {"seconds": 1, "output_bytes": 20_000}).json()
    sim.advance(sim.queue_delay + 1)
    final = poll_until_final(client, scene, body["job_id"])
    assert final["status"] == "failed" and final["creditsCharged"] == 0
    assert "the limit is 10000" in final["error"] and final["output"] is None


def test_outputs_are_cleared_after_the_retention_period(client, scene, sim, settings):
    body = run(client, scene, {"seconds": 1}).json()
    sim.advance(sim.queue_delay + 1)
    poll_until_final(client, scene, body["job_id"])
    assert jobs.job_outputs_prune() == 0
    later = timezone.now() + timezone.timedelta(days=settings.GPU_JOB_OUTPUT_RETENTION_DAYS + 1)
    assert jobs.job_outputs_prune(now=later) == 1
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert job.output is None and job.status == "succeeded" and job.charged_microcredits


def test_too_little_credit_is_a_402_with_nothing_queued(client, sim):
    poor = make_scene(sim, credits=1)  # 1 credit = 1,000,000 µcr: one hold of 732,000 fits
    poor_big = make_scene(sim, credits=0)
    response = run(client, poor_big, {"seconds": 1})
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "insufficient_credits"
    assert not GpuJob.objects.filter(organization=poor_big.org).exists()
    assert not Hold.objects.filter(wallet__organization=poor_big.org).exists()
    assert provider_jobs(sim) == []
    assert run(client, poor, {"seconds": 1}).status_code == 200  # 732,000 µcr ≤ 1 credit
    assert Wallet.objects.get(organization=poor.org).held_microcredits == HOLD
    assert HOLD < CREDIT


@pytest.mark.django_db(transaction=True)
def test_a_callback_before_the_run_answer_was_stored_is_applied(client, sim, live_server, settings):
    settings.GPU_CALLBACK_BASE_URL = live_server.url
    settings.RUNPOD_READ_TIMEOUT_SECONDS = 0.3
    scene = make_scene(sim)
    # /run reaches the provider, but its answer comes after the adapter gave up waiting.
    sim.add_fault("timeout", delay=1.0, path="/v2/", method="POST")
    job = GpuJob.objects.get(public_id=run(client, scene, {"seconds": 1}).json()["job_id"])
    assert not job.provider_job_id and "in time" in job.provider_error
    [queued] = wait_for(lambda: provider_jobs(sim))  # the provider did take it
    sim.advance(sim.queue_delay + 1)
    assert sim.wait_webhooks()
    job.refresh_from_db()
    assert job.status == "succeeded" and job.provider_job_id == queued["id"]
    assert job.charged_microcredits == 1000 * 2 * 150 // 1000
    # Nobody submits it a second time.
    jobs.jobs_poll_due(now=timezone.now() + timezone.timedelta(minutes=5))
    assert len(provider_jobs(sim)) == 1
    ledger_clean()


def test_racing_pollers_resubmit_a_job_once(client, scene, sim):
    sim.add_fault("error", status=503, path="/v2/")
    job = GpuJob.objects.get(public_id=run(client, scene, {"seconds": 30}).json()["job_id"])
    assert provider_jobs(sim) == []
    GpuJob.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
    stale = GpuJob.objects.get(pk=job.pk)
    jobs.job_refresh(job=GpuJob.objects.get(pk=job.pk))
    jobs.job_refresh(job=stale)  # a second poller holding the same stale row
    assert len(provider_jobs(sim)) == 1
