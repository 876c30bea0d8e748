"""A GPU job's life against a RunPod-shaped provider over real HTTP: submit, hold,
running, success settled exactly, failure and timeout refunded, cancel in both states,
provider errors retried, a hold expiring under a running job; the ledger stays consistent."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing import ledger
from billing.models import Hold, LedgerEntry, Wallet
from infra import jobs
from infra.models import GpuJob
from usage.models import UsageEvent

from . import jobfixtures
from .jobfixtures import CREDIT, RATES, captures, hold_of, make_scene, provider_status, wait_for

# Fixtures (shared by the GPU job tests).
_runpod_fake = jobfixtures._runpod_fake
scene = jobfixtures.scene

pytestmark = pytest.mark.django_db

HOLD = 600 * 2 * RATES["JOBTEST_BIG"]  # timeout × GPUs × the highest allowed rate


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


def test_submit_holds_the_worst_case_and_answers_queued(client, scene, _runpod_fake):
    before = scene.wallet
    response = run(client, scene, {"queue_seconds": 30})
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"job_id", "status", "provider_job_id"}
    assert body["status"] == "queued"
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert body["provider_job_id"] == job.provider_job_id and job.provider_job_id
    hold = hold_of(job)
    assert hold.status == Hold.Status.OPEN and hold.amount_microcredits == HOLD
    assert hold.key_id == scene.key.pk
    # The hold expires with the job: its timeout plus the grace.
    assert (hold.expires_at - job.timeout_at).total_seconds() == pytest.approx(300, abs=2)
    wallet = scene.wallet
    assert wallet.held_microcredits == before.held_microcredits + HOLD
    assert wallet.balance_microcredits == before.balance_microcredits
    # The provider got the input and a callback URL with the job's token.
    sent = _runpod_fake.jobs[job.provider_job_id]["payload"]
    assert sent["input"]["prompt"] == "an astronaut"
    assert sent["webhook"].endswith(
        f"/internal/gpu/callback/{job.public_id}?token={jobs.callback_token(job)}"
    )


def test_success_is_settled_exactly_on_the_gpu_that_ran_it(client, scene, _runpod_fake):
    start = scene.wallet.balance_microcredits
    body = run(
        client, scene, {"seconds": 0.2, "execution_ms": 18420, "gpu": "NVIDIA Test Big"}
    ).json()
    seen = {poll(client, scene, body["job_id"]).json()["status"]}
    final = poll_until_final(client, scene, body["job_id"])
    # 18,420 ms × 2 GPUs × 610 µcr/s = 22,472.4 µcr, rounded down.
    charged = 18420 * 2 * 610 // 1000
    assert charged == 22472
    assert final == {
        "job_id": body["job_id"],
        "status": "succeeded",
        "provider_job_id": body["provider_job_id"],
        "output": {"images": ["https://cdn.example/out.png"]},
        "error": None,
        "executionMs": 18420,
        "creditsCharged": final["creditsCharged"],
        "creditsHeld": final["creditsHeld"],
        "providerError": None,
    }
    assert Decimal(str(final["creditsCharged"])) == Decimal("0.022472")
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert job.charged_microcredits == charged and job.gpu_type == "JOBTEST_BIG"
    assert seen <= {"queued", "running", "succeeded"}
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


def test_an_unknown_gpu_is_billed_at_the_first_priority_type(client, scene, _runpod_fake):
    body = run(
        client, scene, {"seconds": 0.1, "execution_ms": 18420, "gpu": "H200 of elsewhere"}
    ).json()
    poll_until_final(client, scene, body["job_id"])
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert job.gpu_type == "JOBTEST_SMALL"
    assert job.charged_microcredits == 18420 * 2 * 150 // 1000


def test_the_charge_is_capped_at_the_hold(client, _runpod_fake):
    small = make_scene(timeout=1)  # holds 1 s × 2 × 610 = 1,220 µcr
    body = run(
        client, small, {"seconds": 0.1, "execution_ms": 5000, "gpu": "NVIDIA Test Big"}
    ).json()
    poll_until_final(client, small, body["job_id"])
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert hold_of(job).amount_microcredits == 1220
    assert job.charged_microcredits == 1220  # not 5 s × 2 × 610 = 6,100
    ledger_clean()


@pytest.mark.parametrize(("outcome", "status"), [("failed", "failed"), ("timed_out", "timed_out")])
def test_failure_and_provider_timeout_are_refunded_in_full(
    client, scene, _runpod_fake, outcome, status
):
    start = scene.wallet
    body = run(client, scene, {"seconds": 0.1, "outcome": outcome, "execution_ms": 9000}).json()
    final = poll_until_final(client, scene, body["job_id"])
    assert final["status"] == status and final["creditsCharged"] == 0
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


def test_cancel_while_queued_is_a_full_refund(client, scene, _runpod_fake):
    start = scene.wallet.balance_microcredits
    body = run(client, scene, {"queue_seconds": 60}).json()
    response = client.post(f"/v1/gpu/jobs/{body['job_id']}/cancel", **scene.auth())
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "canceled"
    assert response.json()["creditsCharged"] == 0
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert provider_status(_runpod_fake, job) == "CANCELLED"
    assert hold_of(job).status == Hold.Status.RELEASED
    assert scene.wallet.balance_microcredits == start and scene.wallet.held_microcredits == 0
    # Cancelling again: the job is final.
    again = client.post(f"/v1/gpu/jobs/{body['job_id']}/cancel", **scene.auth())
    assert again.status_code == 409 and again.json()["error"]["type"] == "job_finished"
    ledger_clean()


def test_cancel_while_running_charges_the_executed_time(client, scene, _runpod_fake):
    start = scene.wallet.balance_microcredits
    body = run(client, scene, {"queue_seconds": 0, "seconds": 60}).json()
    wait_for(lambda: poll(client, scene, body["job_id"]).json()["status"] == "running")
    response = client.post(f"/v1/gpu/jobs/{body['job_id']}/cancel", **scene.auth())
    assert response.json()["status"] == "canceled"
    job = GpuJob.objects.get(public_id=body["job_id"])
    reported = _runpod_fake.state(job.provider_job_id)["executionTime"]
    assert job.execution_ms == reported > 0
    expected = reported * 2 * RATES["JOBTEST_SMALL"] // 1000
    assert job.charged_microcredits == expected
    assert scene.wallet.balance_microcredits == start - expected
    assert scene.wallet.held_microcredits == 0
    ledger_clean()


def test_sync_waits_inline_and_answers_the_poll_shape(client, scene, _runpod_fake, settings):
    settings.GPU_JOB_SYNC_WAIT_SECONDS = 10
    response = run(client, scene, {"seconds": 0.2, "execution_ms": 1000}, sync=True)
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "succeeded" and body["executionMs"] == 1000
    assert body["creditsCharged"] == Decimal("0.0003") or str(body["creditsCharged"]) == "0.0003"


def test_sync_gives_up_after_the_configured_wait(client, scene, _runpod_fake, settings):
    settings.GPU_JOB_SYNC_WAIT_SECONDS = 0.3
    body = run(client, scene, {"queue_seconds": 60}, sync=True).json()
    assert body["status"] == "queued" and body["creditsCharged"] is None


def test_a_provider_error_at_submit_keeps_the_job_and_its_hold(
    client, scene, _runpod_fake, settings
):
    settings.GPU_JOB_RETRY_BASE_SECONDS = 60
    _runpod_fake.fail_next(1)
    response = run(client, scene, {"seconds": 0.1})
    assert response.status_code == 200
    job = GpuJob.objects.get(public_id=response.json()["job_id"])
    assert job.status == "queued" and not job.provider_job_id
    assert "503" in job.provider_error and job.provider_failures == 1
    assert hold_of(job).status == Hold.Status.OPEN
    # A poll within the backoff shows the error and does not hammer the provider.
    answer = poll(client, scene, job.public_id).json()
    assert answer["status"] == "queued" and "503" in answer["providerError"]
    assert len(_runpod_fake.requests) == 1
    # Once the backoff has passed, the beat poller submits it again, then settles it.
    GpuJob.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
    jobs.jobs_poll_due()
    job.refresh_from_db()
    assert job.provider_job_id and job.provider_error == ""
    wait_for(lambda: provider_status(_runpod_fake, job) == "COMPLETED")
    jobs.jobs_poll_due(now=timezone.now() + timezone.timedelta(seconds=60))
    job.refresh_from_db()
    assert job.status == "succeeded" and job.settled_at
    ledger_clean()


def test_provider_errors_while_polling_back_off_and_never_lose_the_job(client, scene, _runpod_fake):
    body = run(client, scene, {"seconds": 0.1}).json()
    _runpod_fake.fail_next(3)
    for _ in range(3):
        answer = poll(client, scene, body["job_id"]).json()
        assert answer["status"] in ("queued", "running") and answer["providerError"]
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert job.provider_failures == 3 and job.next_check_at > timezone.now() - timezone.timedelta(
        seconds=1
    )
    assert poll_until_final(client, scene, body["job_id"])["status"] == "succeeded"


def test_the_beat_poller_settles_jobs_nobody_polls(client, scene, _runpod_fake):
    body = run(client, scene, {"seconds": 0.1, "execution_ms": 2000}).json()
    job = GpuJob.objects.get(public_id=body["job_id"])
    wait_for(lambda: provider_status(_runpod_fake, job) == "COMPLETED")
    assert jobs.jobs_poll_due(now=timezone.now() + timezone.timedelta(seconds=60)) >= 1
    job.refresh_from_db()
    assert job.status == "succeeded" and job.charged_microcredits == 2000 * 2 * 150 // 1000


def test_a_hold_expiring_under_a_running_job_times_it_out_refunded(
    client, scene, _runpod_fake, django_capture_on_commit_callbacks
):
    start = scene.wallet.balance_microcredits
    body = run(client, scene, {"queue_seconds": 0, "seconds": 60}).json()
    wait_for(lambda: poll(client, scene, body["job_id"]).json()["status"] == "running")
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
    assert provider_status(_runpod_fake, job) == "CANCELLED"
    assert poll(client, scene, job.public_id).json()["status"] == "timed_out"
    ledger_clean()


def test_a_settlement_that_finds_its_hold_past_expiry_refunds(client, scene, _runpod_fake):
    body = run(client, scene, {"seconds": 0.1}).json()
    job = GpuJob.objects.get(public_id=body["job_id"])
    wait_for(lambda: provider_status(_runpod_fake, job) == "COMPLETED")
    Hold.objects.filter(pk=job.hold_id).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    final = poll(client, scene, job.public_id).json()
    assert final["status"] == "timed_out" and final["creditsCharged"] == 0
    assert hold_of(job).status == Hold.Status.RELEASED
    assert ledger.holds_expire_due() == 0
    ledger_clean()


def test_a_job_past_its_timeout_is_cancelled_and_refunded(client, scene, _runpod_fake):
    body = run(client, scene, {"queue_seconds": 0, "seconds": 60}).json()
    job = GpuJob.objects.get(public_id=body["job_id"])
    GpuJob.objects.filter(pk=job.pk).update(
        timeout_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    jobs.jobs_poll_due()
    job.refresh_from_db()
    assert job.status == "timed_out" and job.charged_microcredits == 0
    assert provider_status(_runpod_fake, job) == "CANCELLED"
    assert hold_of(job).status == Hold.Status.RELEASED
    ledger_clean()


def test_the_provider_callback_settles_with_the_jobs_token(client, scene, _runpod_fake):
    body = run(client, scene, {"seconds": 0.1, "execution_ms": 4000}).json()
    job = GpuJob.objects.get(public_id=body["job_id"])
    state = wait_for(
        lambda: (s := _runpod_fake.state(job.provider_job_id))["status"] == "COMPLETED" and s
    )
    url = f"/internal/gpu/callback/{job.public_id}"
    wrong = client.post(f"{url}?token=nope", state, content_type="application/json")
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_failed"
    assert client.post(url, state, content_type="application/json").status_code == 401
    other = make_scene()
    assert (
        client.post(
            f"/internal/gpu/callback/{other.key.public_id}?token={jobs.callback_token(job)}",
            state,
            content_type="application/json",
        ).status_code
        == 401
    )
    job.refresh_from_db()
    assert job.status != "succeeded"
    response = client.post(
        f"{url}?token={jobs.callback_token(job)}", state, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["status"] == "succeeded"
    job.refresh_from_db()
    assert job.charged_microcredits == 4000 * 2 * 150 // 1000
    # A replayed callback charges nothing more.
    client.post(f"{url}?token={jobs.callback_token(job)}", state, content_type="application/json")
    assert len(captures(job)) == 1


def test_a_data_url_output_past_the_limit_is_refused_and_refunded(
    client, scene, _runpod_fake, settings
):
    settings.GPU_JOB_DATA_URL_MAX_BYTES = 1000
    big = "data:image/png;base64," + "A" * 2000
    body = run(client, scene, {"seconds": 0.1, "output": {"images": [big]}}).json()
    final = poll_until_final(client, scene, body["job_id"])
    assert final["status"] == "failed" and final["creditsCharged"] == 0
    assert "data: URL of 2022 bytes; the limit is 1000" in final["error"]
    assert final["output"] is None


def test_outputs_are_cleared_after_the_retention_period(client, scene, _runpod_fake, settings):
    body = run(client, scene, {"seconds": 0.1}).json()
    poll_until_final(client, scene, body["job_id"])
    assert jobs.job_outputs_prune() == 0
    later = timezone.now() + timezone.timedelta(days=settings.GPU_JOB_OUTPUT_RETENTION_DAYS + 1)
    assert jobs.job_outputs_prune(now=later) == 1
    job = GpuJob.objects.get(public_id=body["job_id"])
    assert job.output is None and job.status == "succeeded" and job.charged_microcredits


def test_too_little_credit_is_a_402_with_nothing_queued(client, _runpod_fake):
    poor = make_scene(credits=1)  # 1 credit = 1,000,000 µcr; the hold needs 732,000 × … more
    poor_big = make_scene(credits=0)
    response = run(client, poor_big, {"seconds": 0.1})
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "insufficient_credits"
    assert not GpuJob.objects.filter(organization=poor_big.org).exists()
    assert not Hold.objects.filter(wallet__organization=poor_big.org).exists()
    assert _runpod_fake.jobs == {}
    assert run(client, poor, {"seconds": 0.1}).status_code == 200  # 732,000 µcr ≤ 1 credit
    assert Wallet.objects.get(organization=poor.org).held_microcredits == HOLD
    assert HOLD < CREDIT


def test_a_callback_before_the_run_answer_was_stored_is_applied(client, scene, _runpod_fake):
    _runpod_fake.fail_next(1)  # /run's answer never reached us: no provider id on the job
    job = GpuJob.objects.get(public_id=run(client, scene, {"seconds": 0.1}).json()["job_id"])
    assert not job.provider_job_id
    body = {"id": "pj-1", "status": "COMPLETED", "executionTime": 1000, "output": {"ok": True}}
    response = client.post(
        f"/internal/gpu/callback/{job.public_id}?token={jobs.callback_token(job)}",
        body,
        content_type="application/json",
    )
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == "succeeded" and job.provider_job_id == "pj-1"
    assert job.charged_microcredits == 1000 * 2 * 150 // 1000
    assert len(_runpod_fake.jobs) == 0  # and nobody submitted it a second time


def test_racing_pollers_resubmit_a_job_once(client, scene, _runpod_fake):
    _runpod_fake.fail_next(1)
    job = GpuJob.objects.get(public_id=run(client, scene, {"seconds": 30}).json()["job_id"])
    GpuJob.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
    stale = GpuJob.objects.get(pk=job.pk)
    jobs.job_refresh(job=GpuJob.objects.get(pk=job.pk))
    jobs.job_refresh(job=stale)  # a second poller holding the same stale row
    assert len(_runpod_fake.jobs) == 1
