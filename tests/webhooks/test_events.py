"""Each event type fired from its real source and delivered, signed, to a receiver:
jobs and deployments (through the infra signals, with rows made by the ORM), key alerts
and auto-disable through real usage ingestion, the low balance through the ledger."""

from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import translation

from billing import ledger
from billing.models import LedgerEntry
from billing.services import wallet_set_low_balance_threshold
from infra.models import Deployment, GpuJob
from infra.signals import deployment_status_changed, gpu_job_finished
from tests.apikeys.factories import CREDIT, event, fund, key_make, personal
from tests.billing.factories import new_key
from webhooks.models import WebhookMessage

from .factories import deployment_make, endpoint_make, job_make

pytestmark = pytest.mark.django_db

TOKENS_PER_CREDIT = 1000  # gpt-5.5 output: 1,000 µcr a token


@pytest.fixture
def hooked(team, receiver):
    """The team's endpoint for every event type, at the receiver."""
    endpoint, secret = endpoint_make(team["org"], team["owner"], receiver.url())
    receiver.secrets = [secret]
    return team["org"], endpoint, secret


def delivered(receiver, secret, count: int = 1) -> list[dict]:
    got = receiver.wait_for(count)
    assert all(secret in r.verified for r in got), [r.error for r in got]
    return [r.verified[secret] for r in got]


@pytest.mark.parametrize("status", ["succeeded", "failed", "timed_out", "canceled"])
def test_a_finished_job_sends_its_event(
    hooked, receiver, status, django_capture_on_commit_callbacks
):
    org, _endpoint, secret = hooked
    deployment = deployment_make(org)
    job = job_make(deployment, status=status)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        gpu_job_finished.send(sender=GpuJob, job=job)
    (payload,) = delivered(receiver, secret)
    assert payload["type"] == f"job.{status}"
    data = payload["data"]
    assert data["jobId"] == job.public_id and data["status"] == status
    assert data["deployment"] == "comfy" and data["model"] is None
    assert data["executionMs"] == 12_345 and data["creditsCharged"] == 9.876543
    assert data["gpuType"] == "ADA_48_PRO" and data["gpuCount"] == 1
    assert (data["output"] is not None) == (status == "succeeded")


def test_a_jobs_event_also_goes_to_its_deployments_webhook_url(
    hooked, receiver, django_capture_on_commit_callbacks
):
    org, _endpoint, org_secret = hooked
    deploy_secret = "whsec_" + "C" * 32
    receiver.secrets = [org_secret, deploy_secret]
    deployment = deployment_make(org, webhook_url=receiver.url("/deploy"), secret=deploy_secret)
    job = job_make(deployment)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        gpu_job_finished.send(sender=GpuJob, job=job)
    got = receiver.wait_for(2)
    by_path = {r.path: r for r in got}
    assert set(by_path) == {"/hooks", "/deploy"}
    assert set(by_path["/hooks"].verified) == {org_secret}
    assert set(by_path["/deploy"].verified) == {deploy_secret}
    assert by_path["/deploy"].verified[deploy_secret]["data"]["jobId"] == job.public_id


@pytest.mark.parametrize("status", ["ready", "failed"])
def test_a_deployment_that_becomes_ready_or_fails_sends_its_event(
    hooked, receiver, status, django_capture_on_commit_callbacks
):
    org, _endpoint, secret = hooked
    deployment = deployment_make(org)
    # Caused under Arabic (a person's request): the payload is in English all the same,
    # with the detail's stable code and parameters.
    with (
        translation.override("ar"),
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
    ):
        Deployment.objects.filter(pk=deployment.pk).update(
            status=status,
            status_detail_code="no_worker_in_time",
            status_detail_params={"minutes": 15},
        )
        deployment.refresh_from_db()
        deployment_status_changed.send(
            sender=Deployment, deployment=deployment, previous="deploying"
        )
    (payload,) = delivered(receiver, secret)
    assert payload["type"] == f"deployment.{status}"
    data = payload["data"]["deployment"]
    assert data["slug"] == "comfy"
    assert data["status"] == status
    assert data["statusDetail"] == "No worker came up within 15 minutes."
    assert data["statusDetailCode"] == "no_worker_in_time"
    assert data["statusDetailParams"] == {"minutes": 15}
    assert payload["data"]["previousStatus"] == "deploying"


def test_a_deployment_going_to_deleting_sends_nothing(hooked):
    org, _endpoint, _secret = hooked
    deployment = deployment_make(org, status="deleting")
    with transaction.atomic():
        deployment_status_changed.send(sender=Deployment, deployment=deployment, previous="ready")
    assert not WebhookMessage.objects.exists()


def spend(internal, key, credits: int, capture) -> None:
    with capture(execute=True):
        response = internal.post(
            "/internal/v1/usage",
            {"events": [event(key, input_tokens=0, output_tokens=credits * TOKENS_PER_CREDIT)]},
            format="json",
        )
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.content


def test_key_limit_events_come_from_real_usage_ingestion(
    internal, team, receiver, django_capture_on_commit_callbacks
):
    org, owner = team["org"], team["owner"]
    _endpoint, secret = endpoint_make(
        org,
        owner,
        receiver.url(),
        ["key.spending_limit.warning", "key.spending_limit.reached", "key.disabled"],
    )
    receiver.secrets = [secret]
    fund(org, 1000)
    key, _plaintext = key_make(org=org, actor=owner, limit_credits=10, auto_disable=True)

    spend(internal, key, 7, django_capture_on_commit_callbacks)
    assert receiver.received == []  # 70%: nothing yet
    spend(internal, key, 1, django_capture_on_commit_callbacks)  # 80%
    (warning,) = delivered(receiver, secret)
    assert warning["type"] == "key.spending_limit.warning"
    assert warning["data"] == {
        "key": {"id": key.public_id, "name": "prod-eu", "prefix": key.masked},
        "period": warning["data"]["period"],
        "percent": 80,
        "spendCredits": 8,
        "spendingLimitCredits": 10,
        "keyDisabled": False,
    }

    spend(internal, key, 2, django_capture_on_commit_callbacks)  # 100%: reached, auto-disabled
    payloads = delivered(receiver, secret, 3)
    by_type = {p["type"]: p["data"] for p in payloads}
    assert by_type["key.spending_limit.reached"]["percent"] == 100
    assert by_type["key.spending_limit.reached"]["keyDisabled"] is True
    assert by_type["key.disabled"]["key"]["id"] == key.public_id
    assert by_type["key.disabled"]["automatic"] is True
    assert "auto-disable" in by_type["key.disabled"]["reason"]  # English, whoever caused it
    assert by_type["key.disabled"]["reasonCode"] == "spending_limit_reached"

    spend(internal, key, 1, django_capture_on_commit_callbacks)  # over: nothing new
    assert len(receiver.received) == 3


def test_balance_low_comes_from_the_ledger(owner, receiver, django_capture_on_commit_callbacks):
    org = personal(owner)
    _endpoint, secret = endpoint_make(org, owner, receiver.url(), ["balance.low"])
    receiver.secrets = [secret]
    fund(org, 100)
    wallet = ledger.wallet_get_or_create(organization=org)
    wallet_set_low_balance_threshold(wallet=wallet, actor=owner, threshold_microcredits=20 * CREDIT)
    with django_capture_on_commit_callbacks(execute=True):
        ledger.ledger_post(
            wallet=wallet,
            amount_microcredits=-(80 * CREDIT + 500_000),
            kind=LedgerEntry.Kind.USAGE,
            idempotency_key=new_key("webhooks"),
        )
    (payload,) = delivered(receiver, secret)
    assert payload["type"] == "balance.low"
    assert payload["data"] == {"balanceCredits": 19.5, "thresholdCredits": 20}
    assert isinstance(payload["data"]["balanceCredits"], float)  # a JSON number
    body = receiver.received[0].body.decode()
    assert '"balanceCredits":19.5' in body and Decimal("19.5") == Decimal(
        str(payload["data"]["balanceCredits"])
    )
