"""The pages under /settings/organization/webhooks: owners and admins only (others 403
and no link to it), another tenant's endpoint 404; create shows the secret once, edit,
rotate, delete, send a test event, the delivery log with attempts, resend."""

import re

import pytest
from django.test import override_settings

from orgs.models import AuditEvent
from tests.accounts.factories import UserFactory
from webhooks.models import WebhookEndpoint

from .factories import endpoint_make

pytestmark = pytest.mark.django_db

LIST = "/settings/organization/webhooks"


def text(response) -> str:
    return response.content.decode()


def test_create_shows_the_secret_once(as_member, receiver, team):
    client = as_member("owner", api=False)
    page = client.get(LIST)
    assert page.status_code == 200 and "Add an endpoint" in text(page)
    response = client.post(
        f"{LIST}/new",
        {"url": receiver.url(), "event_types": ["job.succeeded", "key.disabled"], "enabled": "on"},
    )
    assert response.status_code == 201, text(response)[:2000]
    secret = re.search(r'data-testid="webhook-secret">(whsec_[^<]+)<', text(response)).group(1)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["job.succeeded", "key.disabled"]
    # Never again: not on the detail page, not on the list.
    detail = client.get(f"{LIST}/{endpoint.public_id}")
    assert detail.status_code == 200 and secret not in text(detail)
    assert "webhook-secret" not in text(detail)
    listing = text(client.get(LIST))
    assert receiver.url() in listing and secret not in listing


def test_form_errors_are_shown_on_the_field(as_member):
    client = as_member("admin", api=False)
    with override_settings(ALLOW_PRIVATE_OUTBOUND=False):
        response = client.post(
            f"{LIST}/new", {"url": "http://example.com/hooks", "event_types": ["job.failed"]}
        )
    assert response.status_code == 400
    assert "Only https:// URLs" in text(response) and "field--invalid" in text(response)
    response = client.post(f"{LIST}/new", {"url": "https://example.com/h"})
    assert response.status_code == 400 and "This field is required" in text(response)
    assert not WebhookEndpoint.objects.exists()


def test_edit_rotate_test_resend_and_delete(
    as_member, receiver, team, django_capture_on_commit_callbacks
):
    endpoint, secret = endpoint_make(team["org"], team["owner"], receiver.url(), ["job.failed"])
    receiver.secrets = [secret]
    client = as_member("admin", api=False)
    base = f"{LIST}/{endpoint.public_id}"

    response = client.post(
        f"{base}/edit",
        {"url": receiver.url("/v2"), "event_types": ["job.failed", "balance.low"], "enabled": "on"},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == receiver.url("/v2")
    assert endpoint.event_types == ["job.failed", "balance.low"]

    response = client.post(f"{base}/rotate", {"overlap_hours": "2"})
    assert response.status_code == 200
    new = re.search(r'data-testid="webhook-secret">(whsec_[^<]+)<', text(response)).group(1)
    assert new != secret
    receiver.secrets = [secret, new]

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{base}/test").status_code == 302
    (got,) = receiver.wait_for(1)
    assert set(got.verified) == {secret, new} and got.path == "/v2"
    page = text(client.get(base))
    assert "webhook.test" in page and 'data-testid="attempt-status">200<' in page

    message = endpoint.messages.get()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{base}/deliveries/{message.event_id}/resend").status_code == 302
    assert len(receiver.wait_for(2)) == 2
    assert message.attempts.count() == 2

    assert client.post(f"{base}/delete").status_code == 302
    assert not WebhookEndpoint.objects.exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"webhook.updated", "webhook.secret_rotated", "webhook.deleted"} <= actions


def test_the_delivery_log_shows_failures_with_status_and_excerpt(as_member, receiver, team):
    from webhooks.delivery import message_deliver  # noqa: PLC0415 - the sender
    from webhooks.services import endpoint_send_test  # noqa: PLC0415

    from .receiver import Answer  # noqa: PLC0415

    endpoint, _secret = endpoint_make(team["org"], team["owner"], receiver.url())
    receiver.script(Answer(503, b"maintenance until noon"))
    message = endpoint_send_test(endpoint=endpoint, actor=team["owner"])
    message_deliver(message_id=message.pk)
    page = text(as_member("owner", api=False).get(f"{LIST}/{endpoint.public_id}"))
    assert 'data-testid="attempt-status">503<' in page
    assert "maintenance until noon" in page and "HTTP status 503" in page


@pytest.mark.parametrize("role", ["developer", "billing", "viewer"])
def test_other_roles_get_403_and_no_link(as_member, receiver, team, role):
    endpoint, _secret = endpoint_make(team["org"], team["owner"], receiver.url())
    client = as_member(role, api=False)
    assert client.get(LIST).status_code == 403
    assert client.get(f"{LIST}/{endpoint.public_id}").status_code == 403
    assert client.post(f"{LIST}/{endpoint.public_id}/delete").status_code == 403
    assert client.post(f"{LIST}/{endpoint.public_id}/test").status_code == 403
    settings_page = text(client.get("/settings/organization"))
    assert LIST not in settings_page
    assert WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_have_the_link(as_member, role):
    assert LIST in text(as_member(role, api=False).get("/settings/organization"))


def test_another_tenants_endpoint_is_a_404(client_for, receiver, team):
    endpoint, _secret = endpoint_make(team["org"], team["owner"], receiver.url())
    client = client_for(UserFactory())
    assert client.get(f"{LIST}/{endpoint.public_id}").status_code == 404
    assert client.post(f"{LIST}/{endpoint.public_id}/delete").status_code == 404
    assert (
        client.post(f"{LIST}/{endpoint.public_id}/rotate", {"overlap_hours": 1}).status_code == 404
    )
    assert WebhookEndpoint.objects.exists()


def test_the_personal_account_links_to_its_webhooks(client_for):
    client = client_for(UserFactory())
    assert LIST in text(client.get("/settings/organization"))
    assert client.get(LIST).status_code == 200
