"""Monthly caps: one email at 80%, one at 100% (to the right people), refusal from 100%,
auto-disable, re-enable, and a fresh start when the month changes."""

import re
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.core import mail
from django.core.mail import send_mail as real_send_mail
from django.utils import translation

from apikeys.models import ApiKey, KeyAlert
from apikeys.tasks import send_key_alert_email
from hypereal_site.models import SentEmail
from orgs.models import AuditEvent

from .factories import CREDIT, assert_envelope, event, fund, join, key_make, personal, team

ARABIC_LETTER = re.compile(r"[\u0600-\u06FF]")

pytestmark = pytest.mark.django_db

# gpt-5.5 output tokens cost 1,000 µcr each: 1,000 tokens = 1 credit.
TOKENS_PER_CREDIT = 1000


def spend(internal, key, credits: int, capture, **overrides) -> dict:
    """Report a chat call costing exactly ``credits``, with the after-commit work run."""
    with capture(execute=True):
        response = internal.post(
            "/internal/v1/usage",
            {
                "events": [
                    event(
                        key,
                        input_tokens=0,
                        output_tokens=credits * TOKENS_PER_CREDIT,
                        **overrides,
                    )
                ]
            },
            format="json",
        )
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.content
    return response.json()


def verify(internal, plaintext):
    return internal.post("/internal/v1/keys/verify", {"key": plaintext}, format="json")


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def org_key(owner):
    """An Acme key with a 100-credit limit, created by a developer; the team has one of
    every role."""
    org = team(owner)
    people = {
        "owner": owner,
        "admin": join(org, "admin"),
        "developer": join(org, "developer"),
        "other_developer": join(org, "developer"),
        "billing": join(org, "billing"),
        "viewer": join(org, "viewer"),
    }
    fund(org, 10_000)
    key, plaintext = key_make(org=org, actor=people["developer"], limit_credits=100)
    return key, plaintext, people


def test_heads_up_at_80_and_cap_at_100_each_once_to_the_right_people(internal, org_key, capture):
    key, plaintext, people = org_key
    spend(internal, key, 79, capture)
    assert mail.outbox == [] and not KeyAlert.objects.exists()

    spend(internal, key, 1, capture)  # 80 of 100
    (heads_up,) = mail.outbox
    expected = sorted(people[r].email for r in ("owner", "admin", "developer", "billing"))
    assert sorted(heads_up.to) == expected
    assert heads_up.subject == "[Hypereal] 80% of the spending limit used: key prod-eu"
    assert "80.00 of its 100.00 credit monthly limit (80%)" in heads_up.body
    assert f"/manage-api-keys/{key.public_id}" in heads_up.body
    assert verify(internal, plaintext).status_code == 200

    spend(internal, key, 5, capture)  # 85: nothing new
    assert len(mail.outbox) == 1

    spend(internal, key, 15, capture)  # 100 of 100
    assert len(mail.outbox) == 2
    cap = mail.outbox[1]
    assert sorted(cap.to) == expected
    assert cap.subject == "[Hypereal] Spending limit reached: key prod-eu"
    assert "402 spending_limit_exceeded" in cap.body and "of Acme Inc" in cap.body

    error = assert_envelope(verify(internal, plaintext), 402, "spending_limit_exceeded")
    assert error["period_spend_microcredits"] == 100 * CREDIT

    spend(internal, key, 30, capture)  # over: still refused, no third email
    assert len(mail.outbox) == 2
    assert sorted(KeyAlert.objects.filter(key=key).values_list("level", flat=True)) == [80, 100]
    assert ApiKey.objects.get(pk=key.pk).status == "active"  # no auto-disable asked


def test_crossing_both_lines_in_one_batch_sends_both_emails(internal, owner, capture):
    org = personal(owner)
    fund(org, 1000)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=10)
    spend(internal, key, 12, capture)
    assert sorted(m.subject for m in mail.outbox) == [
        "[Hypereal] 80% of the spending limit used: key prod-eu",
        "[Hypereal] Spending limit reached: key prod-eu",
    ]
    assert all(m.to == [owner.email] for m in mail.outbox)
    assert_envelope(verify(internal, plaintext), 402, "spending_limit_exceeded")


def test_auto_disable_disables_audits_and_says_so(internal, owner, capture, client_for):
    org = personal(owner)
    fund(org, 1000)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=10, auto_disable=True)
    assert verify(internal, plaintext).status_code == 200  # cached as active
    spend(internal, key, 10, capture)

    row = ApiKey.objects.get(pk=key.pk)
    assert row.status == "disabled" and row.disabled_code == "spending_limit_reached"
    assert "auto-disable" in row.disabled_reason
    with translation.override("ar"):
        assert ARABIC_LETTER.search(row.disabled_reason)  # translated when shown
    assert_envelope(verify(internal, plaintext), 401, "key_disabled")
    (disabled,) = AuditEvent.objects.filter(action="key.disabled", target_id=key.public_id)
    assert disabled.actor is None and disabled.actor_label == "system"
    assert KeyAlert.objects.get(key=key, level=100).key_disabled is True
    cap = next(m for m in mail.outbox if "Spending limit reached" in m.subject)
    assert "the key is now DISABLED" in cap.body and "401 key_disabled" in cap.body
    assert '"prod-eu"' in cap.body

    # A person re-enables it from the page; the month's spend still says 402.
    with capture(execute=True):
        response = client_for(owner).post(f"/manage-api-keys/{key.public_id}/enable")
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).status == "active"
    assert_envelope(verify(internal, plaintext), 402, "spending_limit_exceeded")
    # More usage this month does not disable it again, nor email again.
    emails = len(mail.outbox)
    spend(internal, key, 1, capture)
    assert ApiKey.objects.get(pk=key.pk).status == "active"
    assert len(mail.outbox) == emails


def test_raising_the_limit_lets_the_key_through_again(internal, owner, capture, api_client_for):
    org = personal(owner)
    fund(org, 1000)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=10)
    spend(internal, key, 10, capture)
    assert_envelope(verify(internal, plaintext), 402, "spending_limit_exceeded")
    with capture(execute=True):
        response = api_client_for(owner).patch(
            f"/api/api-keys/{key.public_id}", {"spendingLimit": 20}, format="json"
        )
    assert response.status_code == 200
    answer = verify(internal, plaintext)
    assert answer.status_code == 200, answer.content
    assert answer.json()["spending_limit_microcredits"] == 20 * CREDIT
    assert answer.json()["period_spend_microcredits"] == 10 * CREDIT


def _next_month(now: datetime) -> datetime:
    return (now.replace(day=28) + timedelta(days=5)).replace(day=2, hour=9)


def test_spend_starts_again_in_a_new_month(internal, owner, capture):
    org = personal(owner)
    fund(org, 1000)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=10)
    spend(internal, key, 10, capture)
    assert_envelope(verify(internal, plaintext), 402, "spending_limit_exceeded")
    assert len(mail.outbox) == 2

    later = _next_month(datetime.now(UTC))
    with mock.patch("django.utils.timezone.now", return_value=later):
        answer = verify(internal, plaintext)  # the cached entry is from last month
        assert answer.status_code == 200, answer.content
        assert answer.json()["period"] == later.strftime("%Y-%m")
        assert answer.json()["period_spend_microcredits"] == 0
        # The alerts start over in the new month.
        spend(internal, key, 8, capture, occurred_at=later.isoformat())
        assert len(mail.outbox) == 3 and "80%" in mail.outbox[2].subject
        assert KeyAlert.objects.filter(key=key, period=later.strftime("%Y-%m")).count() == 1
        assert verify(internal, plaintext).status_code == 200


def test_the_alert_task_sends_once_however_often_it_runs(internal, owner, capture):
    org = personal(owner)
    fund(org, 1000)
    key, _ = key_make(org=org, actor=owner, limit_credits=10)
    spend(internal, key, 8, capture)
    (alert,) = KeyAlert.objects.filter(key=key)
    assert len(mail.outbox) == 1
    # A redelivered task (acks_late) runs again: nothing more is sent.
    assert send_key_alert_email.apply(args=[alert.pk]).get() is False
    assert send_key_alert_email.apply(args=[alert.pk]).get() is False
    assert len(mail.outbox) == 1
    assert SentEmail.objects.filter(key=f"key-alert:{alert.pk}").count() == 1


def test_a_failed_send_is_retried_and_still_sends_once(internal, owner, capture):
    org = personal(owner)
    fund(org, 1000)
    key, _ = key_make(org=org, actor=owner, limit_credits=10)
    # The broker holds the task for now.
    with mock.patch.object(send_key_alert_email, "delay") as queued:
        spend(internal, key, 8, capture)
    (alert,) = KeyAlert.objects.filter(key=key)
    queued.assert_called_once_with(alert.pk)
    assert mail.outbox == []

    calls = []

    def flaky(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise ConnectionError("SMTP server went away")
        return real_send_mail(*args, **kwargs)

    with mock.patch("hypereal_site.notify.send_mail", side_effect=flaky):
        result = send_key_alert_email.apply(args=[alert.pk], throw=False)
    assert result.get() is True
    assert len(calls) == 2  # the first attempt failed, its retry sent
    assert len(mail.outbox) == 1
    assert SentEmail.objects.filter(key=f"key-alert:{alert.pk}").count() == 1
    assert send_key_alert_email.apply(args=[alert.pk]).get() is False
    assert len(mail.outbox) == 1


def test_a_key_without_limit_never_alerts(internal, owner, capture):
    org = personal(owner)
    fund(org, 1000)
    key, plaintext = key_make(org=org, actor=owner)
    spend(internal, key, 900, capture)
    assert mail.outbox == [] and not KeyAlert.objects.exists()
    assert verify(internal, plaintext).status_code == 200
