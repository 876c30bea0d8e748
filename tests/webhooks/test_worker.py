"""Deliveries and the retry sweeper run by a real ``celery worker --beat`` process against
Redis and the test database (PostgreSQL): the first attempt is queued on commit, fails,
and the beat sweeper sends the retry once it is due; a message the on-commit task never
queued is found and sent by the sweeper too."""

import pytest
from django.db import transaction

from tests.celeryworker import celery_worker
from webhooks import events, services
from webhooks.models import WebhookMessage

from .factories import endpoint_make
from .receiver import Answer


@pytest.fixture
def worker(transactional_db, tmp_path):
    with celery_worker(
        settings_module="tests.webhooks.worker_settings", tmp_path=tmp_path, beat=True
    ) as process:
        yield process


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

    worker.wait_for(delivered, seconds=120)
    message = WebhookMessage.objects.get(pk=message.pk)
    assert [a.status_code for a in message.attempts.order_by("number")] == [500, 200]
    first, second = message.attempts.order_by("number")
    assert (second.created_at - first.created_at).total_seconds() >= 5  # the schedule's 5 s
    assert [set(r.verified) for r in receiver.received] == [{secret}, {secret}]
    log = worker.log_text()
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
    worker.wait_for(
        lambda: WebhookMessage.objects.get(pk=message.pk).status == "succeeded", seconds=120
    )
    assert receiver.received[0].verified[secret]["type"] == "key.disabled"
