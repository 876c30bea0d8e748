"""The delivery log of a deployment's own webhook URL: the deployment's "Webhooks" tab
(``/infra/deployments/<slug>/webhooks``) and ``/api/deployments/{slug}/deliveries``.

Whoever may view the deployment reads it (owner, admin, developer, viewer); whoever may
manage it resends and sends a test event (owner, admin, developer); billing members get 403.
It lists exactly the messages sent to that deployment's URL (not the organization endpoints'
copies of the same events, not another deployment's); another tenant's deployment, or a
message of another deployment, is a 404. Deliveries go over real HTTP to a receiver on
loopback that verifies the signature with the deployment's secret.
"""

import json
import re
from decimal import Decimal

import pytest

from tests.accounts.factories import UserFactory
from tests.apikeys.factories import personal
from webhooks import events, services
from webhooks.delivery import message_deliver
from webhooks.models import WebhookMessage
from webhooks.signing import new_secret

from .factories import deployment_make, endpoint_make, job_make
from .receiver import Answer

pytestmark = pytest.mark.django_db

SLUG = "comfy"
PAGE = f"/infra/deployments/{SLUG}/webhooks"
API = f"/api/deployments/{SLUG}/deliveries"
MANAGERS = ("owner", "admin", "developer")


def text(response) -> str:
    return response.content.decode()


def shown(response) -> list[tuple[str, str]]:
    """(message id, status) of each delivery on the page, in page order."""
    return re.findall(r'data-message="(msg_\w+)" data-status="(\w+)"', text(response))


def emit(org, deployment, event_type: str = "job.succeeded") -> WebhookMessage:
    """A job event as a finished job sends it: to the organization's subscribed endpoints
    and to the deployment's URL (one message each, one event id). Answers the deployment's."""
    job = job_make(deployment, status=event_type.removeprefix("job."))
    created = services.event_emit(
        organization=org, event_type=event_type, data=events.job_data(job), deployment=deployment
    )
    return WebhookMessage.objects.get(deployment=deployment, event_id=created[0].event_id)


@pytest.fixture
def world(team, receiver):
    """The team's deployment ``comfy`` with its own URL and secret, a second deployment,
    and an organization endpoint subscribed to the job events; three job events, and one
    event for the endpoint only."""
    org, owner = team["org"], team["owner"]
    secret = new_secret()
    deployment = deployment_make(org, webhook_url=receiver.url("/dep"), secret=secret, slug=SLUG)
    other = deployment_make(
        org, webhook_url=receiver.url("/other"), secret=new_secret(), slug="other"
    )
    endpoint, _endpoint_secret = endpoint_make(
        org, owner, receiver.url("/org"), ["job.succeeded", "job.failed", "balance.low"]
    )
    succeeded = emit(org, deployment, "job.succeeded")
    failed = emit(org, deployment, "job.failed")
    elsewhere = emit(org, other, "job.succeeded")
    [endpoint_only] = services.event_emit(
        organization=org, event_type="balance.low", data={"balanceCredits": 1}
    )
    return {
        "org": org,
        "secret": secret,
        "deployment": deployment,
        "other": other,
        "endpoint": endpoint,
        "succeeded": succeeded,
        "failed": failed,
        "elsewhere": elsewhere,
        "endpoint_only": endpoint_only,
    }


def in_db(deployment) -> list[tuple[str, str]]:
    return [
        (m.event_id, m.status)
        for m in WebhookMessage.objects.filter(deployment=deployment).order_by("-created_at", "-id")
    ]


def test_the_tab_shows_exactly_the_deployments_deliveries(as_member, receiver, world):
    receiver.script(Answer(200, b"thanks"), Answer(503, b"maintenance until noon"), Answer(404))
    message_deliver(message_id=world["succeeded"].pk)
    message_deliver(message_id=world["failed"].pk)
    # The endpoint's copy of the same event fails with a 404: not this deployment's log.
    endpoint_copy = WebhookMessage.objects.get(
        endpoint=world["endpoint"], event_id=world["succeeded"].event_id
    )
    message_deliver(message_id=endpoint_copy.pk)

    page = as_member("viewer", api=False).get(PAGE)
    assert page.status_code == 200
    assert shown(page) == in_db(world["deployment"])
    assert shown(page) == [
        (world["failed"].event_id, "pending"),
        (world["succeeded"].event_id, "succeeded"),
    ]
    body = text(page)
    attempts = re.findall(r'data-testid="attempt-status">(\d+)<', body)
    assert sorted(attempts) == ["200", "503"]  # not the endpoint copy's 404
    assert "maintenance until noon" in body and "HTTP status 503" in body
    assert world["elsewhere"].event_id not in body
    assert world["endpoint_only"].event_id not in body
    assert receiver.url("/dep") in body
    # A viewer reads; no Resend, no Send test event.
    assert 'data-testid="resend"' not in body and 'data-testid="send-test"' not in body


@pytest.mark.parametrize("role", ["owner", "admin", "developer", "viewer", "billing"])
def test_roles_follow_the_role_table(as_member, world, role):
    client = as_member(role, api=False)
    page = client.get(PAGE)
    resend = f"{PAGE}/{world['failed'].event_id}/resend"
    if role == "billing":
        assert page.status_code == 403
        assert client.post(f"{PAGE}/test").status_code == 403
        assert client.post(resend).status_code == 403
        assert client.get(API).status_code == 403
        return
    assert page.status_code == 200
    manages = role in MANAGERS
    assert ('data-testid="send-test"' in text(page)) is manages
    assert text(page).count('data-testid="resend"') == (2 if manages else 0)
    # The tab is on the deployment's other pages too.
    assert f'href="{PAGE}"' in text(client.get(f"/infra/deployments/{SLUG}/jobs"))
    before = WebhookMessage.objects.count()
    api = as_member(role)
    if manages:
        assert client.post(resend).status_code == 302
        assert api.post(f"/api/deployments/{SLUG}/webhook-test").status_code == 202
        assert WebhookMessage.objects.count() == before + 1
    else:
        assert client.post(f"{PAGE}/test").status_code == 403
        assert client.post(resend).status_code == 403
        assert api.post(f"/api/deployments/{SLUG}/webhook-test").status_code == 403
        assert api.post(f"{API}/{world['failed'].event_id}/resend").status_code == 403
        assert WebhookMessage.objects.count() == before
        world["failed"].refresh_from_db()
        assert world["failed"].round_start == 0
    assert api.get(API).status_code == 200


def test_another_tenant_sees_only_its_own_deployment_of_that_slug(
    client_for, api_client_for, receiver, world
):
    stranger = UserFactory()
    own = deployment_make(
        personal(stranger), webhook_url=receiver.url("/mine"), secret=new_secret(), slug=SLUG
    )
    mine = emit(own.organization, own)
    client = client_for(stranger)
    page = client.get(PAGE)
    assert page.status_code == 200
    assert shown(page) == [(mine.event_id, "pending")]
    # The team's messages, through the stranger's deployment of the same slug: 404.
    assert client.post(f"{PAGE}/{world['failed'].event_id}/resend").status_code == 404
    api = api_client_for(stranger)
    answer = api.post(f"{API}/{world['failed'].event_id}/resend")
    assert answer.status_code == 404 and answer.json()["error"]["type"] == "not_found"
    assert [d["id"] for d in api.get(API).json()["deliveries"]] == [mine.event_id]
    # The team's other deployment: no such slug for the stranger.
    assert client.get("/infra/deployments/other/webhooks").status_code == 404
    assert api.get("/api/deployments/other/deliveries").status_code == 404
    world["failed"].refresh_from_db()
    assert world["failed"].round_start == 0


def test_a_message_of_another_deployment_or_endpoint_is_a_404(as_member, world):
    client, api = as_member("developer", api=False), as_member("developer")
    for message in (world["elsewhere"], world["endpoint_only"]):
        assert client.post(f"{PAGE}/{message.event_id}/resend").status_code == 404
        assert api.post(f"{API}/{message.event_id}/resend").status_code == 404
    assert client.post(f"{PAGE}/msg_nope/resend").status_code == 404
    assert api.post(f"{API}/not-a-message-id/resend").status_code == 404


def test_send_test_and_resend_reach_the_url_signed_with_the_deployments_secret(
    as_member, receiver, world, django_capture_on_commit_callbacks
):
    receiver.secrets = [world["secret"]]
    client = as_member("developer", api=False)

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{PAGE}/test").status_code == 302
    (got,) = receiver.wait_for(1)
    assert got.path == "/dep"
    payload = got.verified[world["secret"]]
    assert payload["type"] == "webhook.test"
    assert payload["data"]["deploymentId"] == world["deployment"].public_id
    assert payload["data"]["deployment"] == SLUG
    test_message = WebhookMessage.objects.get(
        deployment=world["deployment"], event_type="webhook.test"
    )
    assert got.headers["webhook-id"] == test_message.event_id
    assert test_message.status == "succeeded" and test_message.is_test

    # The failed job event, resent: same webhook-id, a new round, delivered.
    receiver.script(Answer(503, b"busy"), Answer(200))
    receiver.secrets = [world["secret"]]
    failed = world["failed"]
    message_deliver(message_id=failed.pk)
    failed.refresh_from_db()
    assert failed.status == "pending" and failed.attempt_count == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{PAGE}/{failed.event_id}/resend").status_code == 302
    second = receiver.wait_for(2)[1]
    assert second.headers["webhook-id"] == failed.event_id
    assert second.verified[world["secret"]]["type"] == "job.failed"
    failed.refresh_from_db()
    assert failed.status == "succeeded" and failed.round_start == 1
    assert list(failed.attempts.order_by("number").values_list("status_code", flat=True)) == [
        503,
        200,
    ]
    page = client.get(PAGE)
    assert (failed.event_id, "succeeded") in shown(page)
    assert (test_message.event_id, "succeeded") in shown(page)
    assert shown(page) == in_db(world["deployment"])


def test_without_a_webhook_url_nothing_can_be_sent(as_member, world):
    deployment = world["deployment"]
    deployment.webhook_url = ""
    deployment.webhook_secret_encrypted = ""
    deployment.save(update_fields=["webhook_url", "webhook_secret_encrypted"])
    client, api = as_member("owner", api=False), as_member("owner")
    page = client.get(PAGE)
    assert 'data-testid="no-webhook-url"' in text(page)
    assert 'data-testid="send-test"' not in text(page)
    # Its earlier deliveries stay visible; sending anything is refused.
    assert shown(page) == in_db(deployment)
    before = WebhookMessage.objects.count()
    followed = client.post(f"{PAGE}/test", follow=True)
    assert "Set one in its settings first." in text(followed)
    answer = api.post(f"/api/deployments/{SLUG}/webhook-test")
    assert answer.status_code == 409 and answer.json()["error"]["type"] == "no_webhook_url"
    answer = api.post(f"{API}/{world['failed'].event_id}/resend")
    assert answer.status_code == 409 and answer.json()["error"]["type"] == "no_webhook_url"
    assert WebhookMessage.objects.count() == before


def test_the_api_lists_exactly_the_deployments_deliveries(as_member, receiver, world):
    receiver.script(Answer(200, b"ok"))
    message_deliver(message_id=world["succeeded"].pk)
    answer = as_member("viewer").get(API)
    assert answer.status_code == 200
    deliveries = json.loads(answer.content, parse_float=Decimal)["deliveries"]
    assert [(d["id"], d["status"]) for d in deliveries] == in_db(world["deployment"])
    delivered = deliveries[-1]
    assert delivered["eventType"] == "job.succeeded" and delivered["test"] is False
    assert delivered["payload"]["data"]["creditsCharged"] == Decimal("9.876543")
    [attempt] = delivered["attempts"]
    assert attempt["statusCode"] == 200 and attempt["responseExcerpt"] == "ok"
    assert deliveries[0]["attempts"] == [] and deliveries[0]["attemptCount"] == 0

    api = as_member("admin")
    answer = api.post(f"{API}/{world['failed'].event_id}/resend", {"x": 1}, format="json")
    assert answer.status_code == 400
    answer = api.post(f"{API}/{world['failed'].event_id}/resend")
    assert answer.status_code == 202 and answer.json()["id"] == world["failed"].event_id
    answer = api.post(f"/api/deployments/{SLUG}/webhook-test")
    assert answer.status_code == 202
    assert answer.json()["eventType"] == "webhook.test" and answer.json()["test"] is True
    assert answer.json()["payload"]["data"]["deployment"] == SLUG
