"""Resend and "Send test event" are audited, for organization endpoints and for a
deployment's own webhook URL, on the pages and in the API: who did it, on which endpoint
or deployment, which delivery. A role that may not do them gets 403 and nothing is written
(no event, no message, no new round of retries)."""

import pytest

from orgs.models import AuditEvent
from webhooks import events, services
from webhooks.models import WebhookMessage
from webhooks.signing import new_secret

from .factories import deployment_make, endpoint_make, job_make

pytestmark = pytest.mark.django_db

SLUG = "comfy"
SENDING = (
    "webhook.test_sent",
    "webhook.delivery_resent",
    "deployment.webhook_test_sent",
    "deployment.webhook_resent",
)


@pytest.fixture
def world(team, receiver):
    """The team's endpoint and deployment, each with one delivered-or-not message."""
    org, owner = team["org"], team["owner"]
    endpoint, _secret = endpoint_make(org, owner, receiver.url("/org"), ["job.failed"])
    deployment = deployment_make(org, webhook_url=receiver.url("/dep"), secret=new_secret())
    job = job_make(deployment, status="failed")
    services.event_emit(
        organization=org, event_type="job.failed", data=events.job_data(job), deployment=deployment
    )
    return {
        "org": org,
        "endpoint": endpoint,
        "deployment": deployment,
        "endpoint_message": WebhookMessage.objects.get(endpoint=endpoint),
        "deployment_message": WebhookMessage.objects.get(deployment=deployment),
    }


def sent_events():
    return AuditEvent.objects.filter(action__in=SENDING)


def the_event(action: str) -> AuditEvent:
    (event,) = AuditEvent.objects.filter(action=action)
    return event


@pytest.mark.parametrize("api", [True, False], ids=["api", "page"])
def test_an_endpoint_test_and_resend_are_audited(as_member, team, world, api):
    admin, endpoint = team["admin"], world["endpoint"]
    client = as_member("admin", api=api)
    base = (
        f"/api/webhooks/{endpoint.public_id}"
        if api
        else f"/settings/organization/webhooks/{endpoint.public_id}"
    )
    message = world["endpoint_message"]

    assert client.post(f"{base}/test").status_code in (202, 302)
    assert client.post(f"{base}/deliveries/{message.event_id}/resend").status_code in (202, 302)

    test = the_event("webhook.test_sent")
    sent = WebhookMessage.objects.get(endpoint=endpoint, is_test=True)
    assert (test.organization, test.actor, test.actor_label) == (world["org"], admin, admin.email)
    assert (test.target_type, test.target_id, test.target_label) == (
        "webhook_endpoint",
        endpoint.public_id,
        endpoint.url,
    )
    assert test.after == {"delivery": sent.event_id}
    resent = the_event("webhook.delivery_resent")
    assert (resent.organization, resent.actor) == (world["org"], admin)
    assert (resent.target_type, resent.target_id) == ("webhook_endpoint", endpoint.public_id)
    assert resent.after == {"delivery": message.event_id, "event_type": "job.failed"}
    assert sent_events().count() == 2


@pytest.mark.parametrize("api", [True, False], ids=["api", "page"])
def test_a_deployments_test_and_resend_are_audited(as_member, team, world, api):
    developer, deployment = team["developer"], world["deployment"]
    client = as_member("developer", api=api)
    base = f"/api/deployments/{SLUG}" if api else f"/infra/deployments/{SLUG}/webhooks"
    test_url = f"{base}/webhook-test" if api else f"{base}/test"
    resend_url = (
        f"{base}/deliveries/{world['deployment_message'].event_id}/resend"
        if api
        else f"{base}/{world['deployment_message'].event_id}/resend"
    )

    assert client.post(test_url).status_code in (202, 302)
    assert client.post(resend_url).status_code in (202, 302)

    test = the_event("deployment.webhook_test_sent")
    sent = WebhookMessage.objects.get(deployment=deployment, is_test=True)
    assert (test.organization, test.actor, test.actor_label) == (
        world["org"],
        developer,
        developer.email,
    )
    assert (test.target_type, test.target_id, test.target_label) == (
        "deployment",
        deployment.public_id,
        SLUG,
    )
    assert test.after == {"delivery": sent.event_id}
    resent = the_event("deployment.webhook_resent")
    assert (resent.organization, resent.actor) == (world["org"], developer)
    assert (resent.target_type, resent.target_id) == ("deployment", deployment.public_id)
    assert resent.after == {
        "delivery": world["deployment_message"].event_id,
        "event_type": "job.failed",
    }
    # The organization endpoint's copy of the same event was not touched, nor audited.
    assert not AuditEvent.objects.filter(action="webhook.delivery_resent").exists()
    assert sent_events().count() == 2


@pytest.mark.parametrize("role", ["developer", "billing", "viewer"])
@pytest.mark.parametrize("api", [True, False], ids=["api", "page"])
def test_roles_that_may_not_send_to_an_endpoint_write_nothing(as_member, world, role, api):
    endpoint, message = world["endpoint"], world["endpoint_message"]
    client = as_member(role, api=api)
    base = (
        f"/api/webhooks/{endpoint.public_id}"
        if api
        else f"/settings/organization/webhooks/{endpoint.public_id}"
    )
    before = WebhookMessage.objects.count()

    test = client.post(f"{base}/test")
    resend = client.post(f"{base}/deliveries/{message.event_id}/resend")

    assert (test.status_code, resend.status_code) == (403, 403)
    if api:
        assert resend.json()["error"]["type"] == "permission_denied"
    assert not sent_events().exists()
    assert WebhookMessage.objects.count() == before
    message.refresh_from_db()
    assert message.round_start == 0


@pytest.mark.parametrize("role", ["billing", "viewer"])
@pytest.mark.parametrize("api", [True, False], ids=["api", "page"])
def test_roles_that_may_not_send_to_a_deployment_write_nothing(as_member, world, role, api):
    message = world["deployment_message"]
    client = as_member(role, api=api)
    if api:
        test_url = f"/api/deployments/{SLUG}/webhook-test"
        resend_url = f"/api/deployments/{SLUG}/deliveries/{message.event_id}/resend"
    else:
        test_url = f"/infra/deployments/{SLUG}/webhooks/test"
        resend_url = f"/infra/deployments/{SLUG}/webhooks/{message.event_id}/resend"
    before = WebhookMessage.objects.count()

    test = client.post(test_url)
    resend = client.post(resend_url)

    assert (test.status_code, resend.status_code) == (403, 403)
    if api:
        assert test.json()["error"]["type"] == "permission_denied"
    assert not sent_events().exists()
    assert WebhookMessage.objects.count() == before
    message.refresh_from_db()
    assert message.round_start == 0


def test_a_refused_resend_writes_no_event(as_member, team, world):
    """The endpoint is disabled: the resend is refused (409) and not audited."""
    services.endpoint_update(endpoint=world["endpoint"], actor=team["owner"], enabled=False)
    client = as_member("admin")
    base = f"/api/webhooks/{world['endpoint'].public_id}"

    answer = client.post(f"{base}/deliveries/{world['endpoint_message'].event_id}/resend")

    assert answer.status_code == 409, answer.content
    assert answer.json()["error"]["type"] == "endpoint_disabled"
    assert not sent_events().exists()
