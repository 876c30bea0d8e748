"""Races on PostgreSQL: a poll, the beat poller and the provider's callback settling one job
at once charge it once; a hold's expiry racing a settlement leaves one outcome; and the
poller runs in a real Celery worker and beat against Redis. The provider is the simulator
behind the real RunPod adapter, its clock moved by the test."""

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from billing import ledger
from billing.models import Hold, LedgerEntry
from infra import jobs
from infra.models import GpuJob
from tests.celeryworker import celery_worker
from usage.models import UsageEvent

from .gpuscene import BIG, captures, hold_of, make_scene, provider_status

pytestmark = pytest.mark.django_db(transaction=True)


def _needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks across connections need PostgreSQL (SQLite has one writer)")


def _submit(scene, simulate: dict) -> GpuJob:
    response = Client().post(
        f"/v1/gpu/run/{scene.deployment.slug}",
        {"input": {"simulate": simulate}},
        content_type="application/json",
        **scene.auth(),
    )
    assert response.status_code == 200, response.content
    return GpuJob.objects.get(public_id=response.json()["job_id"])


def _in_threads(*targets) -> list[BaseException]:
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def wrap(target):
        def run():
            try:
                barrier.wait(timeout=10)
                target()
            except BaseException as exc:
                errors.append(exc)
            finally:
                connection.close()

        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def _ledger_clean() -> None:
    out, err = StringIO(), StringIO()
    call_command("ledger_check", stdout=out, stderr=err)
    assert "Ledger consistent" in out.getvalue(), err.getvalue()


def test_a_poll_the_poller_and_the_callback_racing_charge_once(sim):
    _needs_postgresql()
    scene = make_scene(sim, max_workers=3)
    start = scene.wallet.balance_microcredits
    submitted = [_submit(scene, {"seconds": 7 + i / 1000, "gpu": BIG}) for i in range(3)]
    sim.advance(sim.queue_delay + 8)
    for job in submitted:
        assert provider_status(sim, job) == "COMPLETED"
    for job in submitted:
        state = sim.job(job.provider_job_id)  # the body the provider's callback carries
        token = jobs.callback_token(job)
        errors = _in_threads(
            lambda job=job: Client().get(f"/v1/gpu/jobs/{job.public_id}", **scene.auth()),
            lambda: jobs.jobs_poll_due(now=timezone.now() + timezone.timedelta(seconds=60)),
            lambda job=job, state=state, token=token: Client().post(
                f"/internal/gpu/callback/{job.public_id}?token={token}",
                state,
                content_type="application/json",
            ),
            lambda job=job: jobs.job_refresh(job=GpuJob.objects.get(pk=job.pk)),
        )
        assert errors == []
    expected_total = 0
    for i, job in enumerate(submitted):
        job.refresh_from_db()
        expected = (7000 + i) * 2 * 610 // 1000
        expected_total += expected
        assert job.status == "succeeded" and job.charged_microcredits == expected
        assert [e.amount_microcredits for e in captures(job)] == [-expected]
        assert UsageEvent.objects.filter(request_id=f"gpujob:{job.public_id}").count() == 1
    wallet = scene.wallet
    assert wallet.balance_microcredits == start - expected_total
    assert wallet.held_microcredits == 0
    _ledger_clean()


def test_a_hold_expiry_racing_a_settlement_leaves_one_outcome(sim):
    _needs_postgresql()
    scene = make_scene(sim)
    start = scene.wallet.balance_microcredits
    job = _submit(scene, {"seconds": 1})
    sim.advance(sim.queue_delay + 1)
    assert provider_status(sim, job) == "COMPLETED"
    Hold.objects.filter(pk=job.hold_id).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    errors = _in_threads(
        ledger.holds_expire_due,
        lambda: jobs.job_refresh(job=GpuJob.objects.get(pk=job.pk)),
        lambda: jobs.jobs_poll_due(now=timezone.now() + timezone.timedelta(seconds=60)),
    )
    assert errors == []
    job.refresh_from_db()
    assert job.status == "timed_out" and job.charged_microcredits == 0
    assert hold_of(job).status in (Hold.Status.EXPIRED, Hold.Status.RELEASED)
    assert scene.wallet.balance_microcredits == start and scene.wallet.held_microcredits == 0
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD_CAPTURE).exists()
    _ledger_clean()


@pytest.fixture
def gpu_worker(sim, tmp_path):
    """``celery worker --beat`` (tests/celeryworker.py) on a queue of its own, against the
    test database, Redis and the simulator (through the environment ``gpu_simulator`` set);
    beat sends the GPU job poller every second."""
    with celery_worker(
        settings_module="tests.infra.worker_settings", tmp_path=tmp_path, beat=True
    ) as process:
        yield process


def test_a_real_worker_and_beat_settle_a_job_nobody_polls(gpu_worker, sim):
    scene = make_scene(sim)
    start = scene.wallet.balance_microcredits
    job = _submit(scene, {"seconds": 3, "gpu": BIG})
    sim.advance(sim.queue_delay + 3)
    assert provider_status(sim, job) == "COMPLETED"
    # Nobody polls here: beat sends the poller every second, the worker settles the job.
    gpu_worker.wait_for(lambda: GpuJob.objects.get(pk=job.pk).settled_at is not None, seconds=120)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.charged_microcredits == 3000 * 2 * 610 // 1000
    assert "infra.job_tasks.poll_jobs" in gpu_worker.log_text()  # the worker ran it
    assert scene.wallet.balance_microcredits == start - job.charged_microcredits
    assert scene.wallet.held_microcredits == 0
    _ledger_clean()
