"""Deliveries and the retry sweeper run by a real ``celery worker --beat`` process against
Redis and the test database (PostgreSQL): the first attempt is queued on commit, fails,
and the beat sweeper sends the retry once it is due; a message the on-commit task never
queued is found and sent by the sweeper too."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import transaction

from hypereal_site.celery import app as celery_app
from tests.site.test_real_parts import _database_url, _shared_backends
from webhooks import events, services
from webhooks.models import WebhookMessage

from .factories import endpoint_make
from .receiver import Answer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(transactional_db, tmp_path):
    reason = _shared_backends()
    if reason:
        pytest.skip(reason)
    queue = f"test-webhooks-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.webhooks.worker_settings",
        "DATABASE_URL": _database_url(),
        "TEST_QUEUE": queue,
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hypereal_site",
                "worker",
                "--beat",
                "--schedule",
                str(tmp_path / "beat-schedule"),
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
    saved = {k: celery_app.conf[k] for k in ("task_always_eager", "task_default_queue")}
    celery_app.conf.update(task_always_eager=False, task_default_queue=queue)
    try:
        process.log = log
        yield process
    finally:
        celery_app.conf.update(saved)
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def poll(check, *, seconds: float, worker) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        assert worker.poll() is None, worker.log.read_text()
        time.sleep(0.2)
    pytest.fail("the worker did not do it in time:\n" + worker.log.read_text())


def test_a_worker_delivers_and_beat_sweeps_the_retry(worker, team, receiver):
    org = team["org"]
    _endpoint, secret = endpoint_make(org, team["owner"], receiver.url())
    receiver.secrets = [secret]
    receiver.script(Answer(500, b"not yet"), Answer(200, b"thanks"))
    with transaction.atomic():  # committed: the first attempt is queued on commit, to Redis
        (message,) = services.event_emit(
            organization=org, event_type="balance.low", data={"balanceCredits": 3}
        )

    def delivered() -> bool:
        return WebhookMessage.objects.get(pk=message.pk).status == "succeeded"

    poll(delivered, seconds=120, worker=worker)
    message = WebhookMessage.objects.get(pk=message.pk)
    assert [a.status_code for a in message.attempts.order_by("number")] == [500, 200]
    first, second = message.attempts.order_by("number")
    assert (second.created_at - first.created_at).total_seconds() >= 5  # the schedule's 5 s
    assert [set(r.verified) for r in receiver.received] == [{secret}, {secret}]
    log = worker.log.read_text()
    assert "webhooks.tasks.deliver_message" in log and "webhooks.tasks.sweep_outbox" in log


def test_beat_sends_a_message_nobody_queued(worker, team, receiver):
    org = team["org"]
    endpoint, secret = endpoint_make(org, team["owner"], receiver.url())
    receiver.secrets = [secret]
    # Written as if the process died between commit and the on-commit enqueue.
    message = WebhookMessage.objects.create(
        organization=org,
        endpoint=endpoint,
        event_type="key.disabled",
        body=events.dumps({"type": "key.disabled", "timestamp": None, "data": {}}),
        next_attempt_at=endpoint.created_at,
    )
    poll(
        lambda: WebhookMessage.objects.get(pk=message.pk).status == "succeeded",
        seconds=120,
        worker=worker,
    )
    assert receiver.received[0].verified[secret]["type"] == "key.disabled"
