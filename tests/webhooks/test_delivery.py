"""Delivery to a real receiver on loopback that verifies signatures with the
``standardwebhooks`` library: signing and rotation, the retry schedule (computed by
travelling in time with ``now``, never slept), Retry-After, 410, disabling after days of
failure (with the email), redirects, timeouts, SSRF refusals at save and at send."""

import json
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from orgs.models import AuditEvent
from webhooks import delivery, services
from webhooks.delivery import MAX_ATTEMPTS, RETRY_DELAYS, message_deliver, retry_delay
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage

from .factories import deployment_make, endpoint_make, job_make
from .receiver import Answer

pytestmark = pytest.mark.django_db


def emit(org, event_type="balance.low", data=None, **kwargs) -> list[WebhookMessage]:
    with transaction.atomic():
        return services.event_emit(
            organization=org, event_type=event_type, data=data or {"x": 1}, **kwargs
        )


@pytest.fixture
def setup(team, receiver):
    endpoint, secret = endpoint_make(team["org"], team["owner"], receiver.url())
    receiver.secrets = [secret]
    return team["org"], endpoint, secret


def test_a_delivery_is_signed_and_verified_by_the_standardwebhooks_library(setup, receiver):
    org, endpoint, secret = setup
    (message,) = emit(org, "balance.low", {"balanceCredits": 1, "thresholdCredits": 20})
    assert message.status == "pending" and message.event_id.startswith("msg_")

    attempt = message_deliver(message_id=message.pk)

    (got,) = receiver.received
    assert got.verified[secret] == {
        "type": "balance.low",
        "timestamp": got.verified[secret]["timestamp"],
        "data": {"balanceCredits": 1, "thresholdCredits": 20},
    }
    assert got.headers["webhook-id"] == message.event_id
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-signature"].startswith("v1,")
    assert " " not in got.headers["webhook-signature"]  # one secret, one signature
    assert got.body.decode() == message.body  # the stored body is exactly what was signed
    assert attempt.succeeded and attempt.status_code == 200 and attempt.number == 1
    assert attempt.response_excerpt == "ok"
    message.refresh_from_db()
    assert (message.status, message.next_attempt_at, message.attempt_count) == (
        "succeeded",
        None,
        1,
    )
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).last_success_at is not None
    # Done: nothing is due any more.
    assert message_deliver(message_id=message.pk) is None
    assert len(receiver.received) == 1


def test_a_wrong_secret_does_not_verify(setup, receiver):
    org, _endpoint, _secret = setup
    receiver.secrets = ["whsec_" + "A" * 32]
    (message,) = emit(org)
    attempt = message_deliver(message_id=message.pk)
    assert receiver.received[0].verified == {}
    assert attempt.status_code == 401 and not attempt.succeeded


def test_during_a_rotation_both_secrets_sign(setup, receiver):
    org, endpoint, old = setup
    endpoint, new = services.endpoint_rotate_secret(
        endpoint=endpoint, actor=org.memberships.first().user, overlap_seconds=3600
    )
    assert new != old and new.startswith("whsec_")
    receiver.secrets = [old, new]
    (message,) = emit(org)
    message_deliver(message_id=message.pk)
    (got,) = receiver.received
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert set(got.verified) == {old, new}  # each secret alone verifies the delivery

    # After the overlap only the new secret signs.
    endpoint.previous_secret_until = timezone.now() - timedelta(seconds=1)
    endpoint.save()
    (message,) = emit(org)
    message_deliver(message_id=message.pk)
    got = receiver.received[1]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    assert set(got.verified) == {new}


def test_retries_follow_the_schedule_and_stop_when_the_receiver_recovers(setup, receiver):
    org, endpoint, _secret = setup
    receiver.script(Answer(500, b"boom"), Answer(502, b"bad gateway"), Answer(200, b"thanks"))
    (message,) = emit(org)
    t0 = timezone.now()

    first = message_deliver(message_id=message.pk, now=t0)
    message.refresh_from_db()
    assert not first.succeeded and first.status_code == 500 and first.response_excerpt == "boom"
    wait = (message.next_attempt_at - t0).total_seconds()
    assert 5 <= wait <= 5 * 1.2 + 1  # 5 s, with at most 20% jitter
    assert message_deliver(message_id=message.pk, now=t0 + timedelta(seconds=4)) is None  # not due

    t1 = message.next_attempt_at
    second = message_deliver(message_id=message.pk, now=t1)
    message.refresh_from_db()
    wait = (message.next_attempt_at - t1).total_seconds()
    assert second.number == 2 and 300 <= wait <= 300 * 1.2 + 1  # then 5 minutes

    third = message_deliver(message_id=message.pk, now=message.next_attempt_at)
    message.refresh_from_db()
    assert third.succeeded and third.number == 3 and message.status == "succeeded"
    assert [a.status_code for a in message.attempts.order_by("number")] == [500, 502, 200]
    # The same message id on every attempt (receivers de-duplicate on it).
    assert {r.headers["webhook-id"] for r in receiver.received} == {message.event_id}
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled


def test_the_schedule_spans_about_three_days_with_jitter():
    assert len(RETRY_DELAYS) + 1 == MAX_ATTEMPTS == 10
    assert sum(RETRY_DELAYS) == 5 + 300 + 1800 + 7200 + 18000 + 36000 + 50400 + 72000 + 86400

    class Fixed:
        def __init__(self, value):
            self.value = value

        def random(self):
            return self.value

    assert [retry_delay(n, rng=Fixed(0.0)) for n in range(1, 10)] == list(RETRY_DELAYS)
    assert retry_delay(2, rng=Fixed(0.999999)) == 360  # 300 s + at most 20%
    assert retry_delay(10) is None  # the tenth attempt was the last
    assert retry_delay(1, retry_after=120, rng=Fixed(0.0)) == 120  # longer: honoured
    assert retry_delay(3, retry_after=10, rng=Fixed(0.0)) == 1800  # shorter: the schedule
    assert retry_delay(1, retry_after=10**9, rng=Fixed(0.0)) == 86400  # capped at a day


def test_retry_after_is_honoured_in_seconds_and_as_a_date(setup, receiver):
    org, _endpoint, _secret = setup
    (message,) = emit(org)
    t0 = timezone.now()
    receiver.script(
        Answer(429, b"slow down", {"Retry-After": "120"}),
        Answer(503, b"", {"Retry-After": format_datetime(t0 + timedelta(hours=3), usegmt=True)}),
        Answer(200),
    )
    assert message_deliver(message_id=message.pk, now=t0) is not None
    message.refresh_from_db()
    assert 119 <= (message.next_attempt_at - t0).total_seconds() <= 121  # not 5 s

    t1 = message.next_attempt_at
    message_deliver(message_id=message.pk, now=t1)
    message.refresh_from_db()
    assert abs((message.next_attempt_at - (t0 + timedelta(hours=3))).total_seconds()) <= 2


def test_410_gone_disables_the_endpoint_and_emails_its_managers(
    setup, receiver, team, django_capture_on_commit_callbacks
):
    org, endpoint, _secret = setup
    receiver.script(Answer(410, b"gone"))
    (message,) = emit(org)
    with django_capture_on_commit_callbacks(execute=True):
        attempt = message_deliver(message_id=message.pk)
    assert attempt.status_code == 410
    message.refresh_from_db()
    endpoint.refresh_from_db()
    assert message.status == "failed" and message.next_attempt_at is None  # no retries
    assert not endpoint.enabled and endpoint.disabled_code == "gone_410"
    assert "410" in endpoint.disabled_reason and endpoint.disabled_params["when"].endswith("UTC")
    (email,) = mail.outbox
    assert sorted(email.to) == sorted([team["owner"].email, team["admin"].email])
    assert endpoint.url in email.subject and "410" in email.body
    assert f"/settings/organization/webhooks/{endpoint.public_id}" in email.body
    (event,) = AuditEvent.objects.filter(action="webhook.disabled")
    assert event.actor is None and event.target_id == endpoint.public_id
    # A disabled endpoint gets no new messages.
    assert emit(org) == []


def test_failing_for_three_days_disables_the_endpoint_and_emails_once(
    setup, receiver, team, django_capture_on_commit_callbacks
):
    org, endpoint, _secret = setup
    receiver.script(Answer(500, b"down"))
    (message,) = emit(org)
    now = timezone.now()
    waits = []
    with django_capture_on_commit_callbacks(execute=True):
        for number in range(1, MAX_ATTEMPTS + 1):
            attempt = message_deliver(message_id=message.pk, now=now)
            assert attempt is not None and attempt.number == number
            message.refresh_from_db()
            if message.next_attempt_at is None:
                break
            waits.append((message.next_attempt_at - now).total_seconds())
            now = message.next_attempt_at
    assert len(receiver.received) == MAX_ATTEMPTS == message.attempt_count
    assert message.status == "failed"
    for wait, base in zip(waits, RETRY_DELAYS, strict=True):
        assert base <= wait <= base * 1.2 + 1
    assert sum(waits) >= 3 * 86400  # about three days
    endpoint.refresh_from_db()
    assert not endpoint.enabled and endpoint.disabled_code == "repeated_failures"
    assert "No delivery succeeded" in endpoint.disabled_reason
    assert len(mail.outbox) == 1 and "disabled" in mail.outbox[0].subject


def test_a_message_that_fails_while_others_get_through_does_not_disable(setup, receiver):
    org, endpoint, _secret = setup
    receiver.script(Answer(400, b"bad payload"))
    (message,) = emit(org)
    now = timezone.now()
    message_deliver(message_id=message.pk, now=now)
    # Meanwhile another delivery succeeded.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(last_success_at=now + timedelta(hours=1))
    message.refresh_from_db()
    while message.next_attempt_at is not None:
        message_deliver(message_id=message.pk, now=message.next_attempt_at)
        message.refresh_from_db()
    assert message.status == "failed"
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).enabled


def test_redirects_are_not_followed(setup, receiver):
    org, _endpoint, _secret = setup
    receiver.script(Answer(307, b"", {"Location": receiver.url("/elsewhere")}), Answer(200))
    (message,) = emit(org)
    attempt = message_deliver(message_id=message.pk)
    assert [r.path for r in receiver.received] == ["/hooks"]  # /elsewhere never asked
    assert attempt.status_code == 307 and not attempt.succeeded
    assert "Redirects are not followed" in attempt.error
    message.refresh_from_db()
    assert message.status == "pending" and message.next_attempt_at is not None


@override_settings(WEBHOOK_TIMEOUT_SECONDS=0.5)
def test_a_slow_receiver_times_out_and_is_retried(setup, receiver):
    org, _endpoint, _secret = setup
    receiver.script(Answer(200, delay=2.0))
    (message,) = emit(org)
    attempt = message_deliver(message_id=message.pk)
    assert attempt.status_code is None and not attempt.succeeded
    assert "took too long" in attempt.error
    message.refresh_from_db()
    assert message.status == "pending" and message.next_attempt_at is not None


def test_the_response_excerpt_is_bounded(setup, receiver):
    org, _endpoint, _secret = setup
    receiver.script(Answer(500, ("é" * 5000).encode() + b"\x00"))
    (message,) = emit(org)
    attempt = message_deliver(message_id=message.pk)
    assert len(attempt.response_excerpt) == WebhookAttempt.RESPONSE_EXCERPT_CHARS
    assert "\x00" not in attempt.response_excerpt


def test_a_claimed_message_is_not_sent_twice(setup, receiver):
    org, _endpoint, _secret = setup
    (message,) = emit(org)
    now = timezone.now()
    assert delivery._claim(message.pk, now=now)  # another worker holds it
    assert message_deliver(message_id=message.pk, now=now) is None
    assert receiver.received == []
    # A claim that ran out (its worker died) is taken again by the sweeper.
    later = now + timedelta(seconds=120)
    assert delivery.messages_due(now=later) == [message.pk]
    assert message_deliver(message_id=message.pk, now=later).succeeded


def test_resend_delivers_again_with_the_same_id(setup, receiver, team):
    org, _endpoint, _secret = setup
    (message,) = emit(org)
    message_deliver(message_id=message.pk)
    services.message_resend(message=message, actor=team["owner"])
    again = message_deliver(message_id=message.pk)
    assert again.number == 2 and again.succeeded
    assert [r.headers["webhook-id"] for r in receiver.received] == [message.event_id] * 2


def test_the_sweeper_task_sends_what_is_due(setup, receiver):
    from webhooks.tasks import sweep_outbox  # noqa: PLC0415 - the task under test

    org, _endpoint, _secret = setup
    messages = emit(org) + emit(org, "job.failed")
    assert sweep_outbox() == 2  # eager Celery in tests: delivered in this call
    assert len(receiver.received) == 2
    assert {m.status for m in WebhookMessage.objects.filter(pk__in=[m.pk for m in messages])} == {
        "succeeded"
    }
    assert sweep_outbox() == 0


def test_a_rolled_back_event_leaves_no_message(setup):
    org, _endpoint, _secret = setup
    with pytest.raises(RuntimeError), transaction.atomic():
        services.event_emit(organization=org, event_type="balance.low", data={})
        raise RuntimeError("the change failed")
    assert not WebhookMessage.objects.exists()


def test_only_subscribed_enabled_endpoints_get_the_event(team, receiver):
    org, owner = team["org"], team["owner"]
    jobs, _ = endpoint_make(org, owner, receiver.url("/jobs"), ["job.succeeded"])
    endpoint_make(org, owner, receiver.url("/keys"), ["key.disabled"])
    endpoint_make(org, owner, receiver.url("/off"), ["job.succeeded"], enabled=False)
    messages = emit(org, "job.succeeded")
    assert [m.endpoint_id for m in messages] == [jobs.pk]


def test_a_deployments_own_webhook_url_gets_its_jobs_events(team, receiver):
    org = team["org"]
    secret = "whsec_" + "B" * 32
    receiver.secrets = [secret]
    deployment = deployment_make(org, webhook_url=receiver.url("/deploy"), secret=secret)
    job = job_make(deployment, status="succeeded")
    (message,) = emit(org, "job.succeeded", {"jobId": job.public_id}, deployment=deployment)
    assert message.deployment_id == deployment.pk and message.endpoint_id is None
    assert message_deliver(message_id=message.pk).succeeded
    (got,) = receiver.received
    assert got.path == "/deploy" and got.verified[secret]["data"] == {"jobId": job.public_id}


# --- SSRF -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/hooks", "https"),
        ("https://127.0.0.1/hooks", "not public"),
        ("https://localhost/hooks", "not public"),  # a name that resolves to loopback
        ("https://10.1.2.3/hooks", "not public"),
        ("https://169.254.169.254/latest/meta-data", "not public"),
        ("https://[::ffff:192.168.0.1]/hooks", "not public"),
        ("https://user:pw@example.com/hooks", "user name"),
        ("ftp://example.com/hooks", "https"),
    ],
)
def test_urls_that_do_not_reach_a_public_https_address_are_refused_at_save(team, url, why):
    with override_settings(ALLOW_PRIVATE_OUTBOUND=False), pytest.raises(ValidationError) as exc:
        endpoint_make(team["org"], team["owner"], url)
    assert why in str(exc.value.message_dict["url"])
    assert not WebhookEndpoint.objects.exists()


def test_an_address_that_became_private_is_refused_at_send(setup, receiver):
    org, endpoint, _secret = setup
    (message,) = emit(org)
    # Saved while allowed (as if its DNS answer changed since): the send checks again.
    with override_settings(ALLOW_PRIVATE_OUTBOUND=False):
        attempt = message_deliver(message_id=message.pk)
    assert receiver.received == []
    assert attempt.status_code is None and not attempt.succeeded
    assert "https" in attempt.error or "not public" in attempt.error
    # A name resolving to loopback, over https, is refused the same way.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        url=f"https://localhost:{receiver.port}/hooks"
    )
    message.refresh_from_db()
    with override_settings(ALLOW_PRIVATE_OUTBOUND=False):
        attempt = message_deliver(message_id=message.pk, now=message.next_attempt_at)
    assert "not public" in attempt.error and receiver.received == []


def test_the_payload_body_writes_credits_as_exact_numbers(team, receiver):
    org = team["org"]
    endpoint_make(org, team["owner"], receiver.url())
    deployment = deployment_make(org)
    job = job_make(deployment, status="succeeded")
    from webhooks import events  # noqa: PLC0415 - the payload builder under test

    (message,) = emit(org, "job.succeeded", events.job_data(job))
    assert '"creditsCharged":9.876543' in message.body
    assert json.loads(message.body)["data"]["executionMs"] == 12_345


def test_a_deployment_secret_that_is_not_whsec_fails_the_message_plainly(team, receiver):
    org = team["org"]
    deployment = deployment_make(org, webhook_url=receiver.url("/deploy"), secret="whsec_")
    (message,) = emit(org, "job.failed", {}, deployment=deployment)
    attempt = message_deliver(message_id=message.pk)
    assert "not a whsec_ secret" in attempt.error and receiver.received == []
    message.refresh_from_db()
    assert message.status == "failed"
