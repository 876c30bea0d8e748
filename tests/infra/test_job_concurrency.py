"""Races on PostgreSQL: a poll, the beat poller and the provider's callback settling one job
at once charge it once; a hold's expiry racing a settlement leaves one outcome; and the
poller runs in a real Celery worker and beat against Redis."""

import os
import subprocess
import sys
import threading
import time
import uuid
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from billing import ledger
from billing.models import Hold, LedgerEntry
from hypereal_site.celery import app as celery_app
from infra import jobs
from infra.models import GpuJob
from usage.models import UsageEvent

from . import jobfixtures
from .jobfixtures import captures, hold_of, make_scene, provider_status, wait_for

# Fixtures (shared by the GPU job tests).
_runpod_fake = jobfixtures._runpod_fake

ROOT = Path(__file__).resolve().parents[2]

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


def test_a_poll_the_poller_and_the_callback_racing_charge_once(_runpod_fake):
    _needs_postgresql()
    scene = make_scene()
    start = scene.wallet.balance_microcredits
    submitted = [
        _submit(scene, {"seconds": 0.1, "execution_ms": 7000 + i, "gpu": "NVIDIA Test Big"})
        for i in range(3)
    ]
    for job in submitted:
        wait_for(lambda job=job: provider_status(_runpod_fake, job) == "COMPLETED")
    for job in submitted:
        state = _runpod_fake.state(job.provider_job_id)
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


def test_a_hold_expiry_racing_a_settlement_leaves_one_outcome(_runpod_fake):
    _needs_postgresql()
    scene = make_scene()
    start = scene.wallet.balance_microcredits
    job = _submit(scene, {"seconds": 0.1})
    wait_for(lambda: provider_status(_runpod_fake, job) == "COMPLETED")
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
def gpu_worker(_runpod_fake, tmp_path):
    """``celery worker`` and ``celery beat`` processes on a queue of their own, against the
    test database and Redis; beat sends the GPU job poller every second."""
    if connection.vendor != "postgresql":
        pytest.skip("a worker process needs PostgreSQL (the SQLite test database is in memory)")
    if not settings.REDIS_URL:
        pytest.skip("a worker process needs Redis as its broker (REDIS_URL is not set)")
    db = connection.settings_dict
    auth = db.get("USER") or ""
    if auth and db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    queue = f"test-gpu-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.infra.job_worker_settings",
        "DATABASE_URL": f"postgres://{auth}@{host}/{db['NAME']}",
        "TEST_CELERY_QUEUE": queue,
        "TEST_RUNPOD_URL": _runpod_fake.url,
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "celery.log"
    common = [sys.executable, "-m", "celery", "-A", "hypereal_site"]
    with log.open("w") as out:
        worker = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
            [
                *common,
                "worker",
                "--pool",
                "solo",
                "--queues",
                queue,
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        beat = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
            [
                *common,
                "beat",
                "--schedule",
                str(tmp_path / "beat-schedule"),
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log
    finally:
        for process in (beat, worker):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_a_real_worker_and_beat_settle_a_job_nobody_polls(gpu_worker, _runpod_fake):
    scene = make_scene()
    start = scene.wallet.balance_microcredits
    job = _submit(scene, {"seconds": 1, "execution_ms": 3000, "gpu": "NVIDIA Test Big"})
    # Nobody polls: beat sends the poller every second, the worker settles the job.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.settled_at is not None:
            break
        time.sleep(0.5)
    log = gpu_worker.read_text()
    assert job.settled_at is not None, log
    assert job.status == "succeeded" and job.charged_microcredits == 3000 * 2 * 610 // 1000
    assert "infra.job_tasks.poll_jobs" in log  # registered in the worker, which ran it
    assert scene.wallet.balance_microcredits == start - job.charged_microcredits
    assert scene.wallet.held_microcredits == 0
    _ledger_clean()
    assert celery_app.conf.task_always_eager  # this process stayed eager: the worker did it
