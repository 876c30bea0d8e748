"""``/api/webhooks``: create (the secret once), list, update, delete, rotate, test, the
deliveries and resend; strict and hostile input; roles; another tenant's endpoint is a 404;
every change audited."""

from decimal import Decimal

import pytest
from django.test import override_settings

from orgs.models import AuditEvent
from tests.accounts.factories import UserFactory
from tests.orgs.factories import org_make
from webhooks.models import WebhookEndpoint, WebhookMessage

from .factories import endpoint_make

pytestmark = pytest.mark.django_db


def envelope(response, status: int, error_type: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) >= {"type", "message"}
    if error_type:
        assert error["type"] == error_type, error
    return error


def create(client, receiver, **overrides):
    body = {"url": receiver.url(), "eventTypes": ["job.succeeded", "balance.low"], **overrides}
    return client.post("/api/webhooks", body, format="json")


def test_create_answers_the_secret_once_and_never_again(as_member, receiver, team):
    client = as_member("owner")
    response = create(client, receiver, description="prod")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 30
    assert body["eventTypes"] == ["job.succeeded", "balance.low"]
    assert body["enabled"] is True and body["description"] == "prod"
    endpoint = WebhookEndpoint.objects.get(public_id=body["id"])
    assert endpoint.organization == team["org"]
    assert body["secret"] not in endpoint.secret_encrypted  # stored encrypted

    listed = client.get("/api/webhooks").json()["endpoints"]
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]
    assert "secret" not in client.get(f"/api/webhooks/{body['id']}").json()
    (event,) = AuditEvent.objects.filter(action="webhook.created")
    assert event.actor == team["owner"] and event.after["url"] == receiver.url()
    assert body["secret"] not in str(event.after)


def test_update_delete_and_rotate(as_member, receiver, team):
    client = as_member("admin")
    created = create(client, receiver).json()
    url = f"/api/webhooks/{created['id']}"

    response = client.patch(url, {"enabled": False, "eventTypes": ["key.disabled"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is False and response.json()["eventTypes"] == ["key.disabled"]
    update = AuditEvent.objects.get(action="webhook.updated")
    assert update.before == {"enabled": True, "event_types": ["job.succeeded", "balance.low"]}

    rotated = client.post(f"{url}/rotate", {"overlapSeconds": 600}, format="json")
    assert rotated.status_code == 200, rotated.content
    assert rotated.json()["secret"] != created["secret"]
    assert rotated.json()["previousSecretValidUntil"] is not None
    assert AuditEvent.objects.filter(action="webhook.secret_rotated").count() == 1

    assert client.delete(url).status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.deleted").count() == 1
    envelope(client.get(url), 404, "not_found")


def test_send_test_event_and_read_the_deliveries(
    as_member, receiver, team, django_capture_on_commit_callbacks
):
    client = as_member("owner")
    created = create(client, receiver).json()
    receiver.secrets = [created["secret"]]
    # Eager Celery in tests: after commit the delivery runs in this request.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/webhooks/{created['id']}/test")
    assert response.status_code == 202, response.content
    assert response.json()["eventType"] == "webhook.test"

    (got,) = receiver.wait_for(1)
    assert got.verified[created["secret"]]["type"] == "webhook.test"
    deliveries = client.get(f"/api/webhooks/{created['id']}/deliveries").json()["deliveries"]
    (delivery,) = deliveries
    assert delivery["status"] == "succeeded" and delivery["test"] is True
    assert delivery["payload"]["data"]["endpointId"] == created["id"]
    (attempt,) = delivery["attempts"]
    assert attempt["statusCode"] == 200 and attempt["succeeded"] is True
    assert attempt["responseExcerpt"] == "ok" and attempt["durationMs"] >= 0

    with django_capture_on_commit_callbacks(execute=True):
        resend = client.post(
            f"/api/webhooks/{created['id']}/deliveries/{delivery['id']}/resend", format="json"
        )
    assert resend.status_code == 202, resend.content
    assert len(receiver.wait_for(2)) == 2
    again = client.get(f"/api/webhooks/{created['id']}/deliveries").json()["deliveries"][0]
    assert [a["number"] for a in again["attempts"]] == [2, 1]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://example.com/h", "eventTypes": ["job.exploded"]}, "eventTypes"),
        ({"url": "https://example.com/h", "eventTypes": []}, "eventTypes"),
        ({"url": "https://example.com/h", "eventTypes": "job.succeeded"}, "eventTypes"),
        ({"url": "https://example.com/h"}, "eventTypes"),
        ({"eventTypes": ["job.failed"]}, "url"),
        ({"url": "https://e.com/" + "a" * 600, "eventTypes": ["job.failed"]}, "url"),
        ({"url": "https://example.com/\x00", "eventTypes": ["job.failed"]}, "url"),
        ({"url": 12, "eventTypes": ["job.failed"]}, "url"),
        ({"url": "https://example.com/h", "eventTypes": ["job.failed"], "secret": "x"}, "secret"),
        (
            {"url": "https://example.com/h", "eventTypes": ["job.failed"], "enabled": "maybe"},
            "enabled",
        ),
        ({"url": "https://example.com/h", "eventTypes": [["job.failed"]]}, "eventTypes"),
    ],
)
def test_bad_input_is_a_field_error_and_creates_nothing(as_member, body, field):
    error = envelope(as_member("owner").post("/api/webhooks", body, format="json"), 400)
    assert error["type"] == "validation_error" and field in error["fields"], error
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["http://example.com/h", "https://127.0.0.1/h", "https://localhost/h", "https://10.0.0.8/h"],
)
def test_private_or_plain_http_urls_are_refused(as_member, url):
    with override_settings(ALLOW_PRIVATE_OUTBOUND=False):
        response = as_member("owner").post(
            "/api/webhooks", {"url": url, "eventTypes": ["job.failed"]}, format="json"
        )
    error = envelope(response, 400, "validation_error")
    assert "url" in error["fields"]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 5000,
        b'{"url": "https://example.com", "eventTypes": ["job.failed"], "a": NaN}',
        b"\xff\xfe not json",
        b'"just a string"',
        b"[1, 2, 3]",
    ],
)
def test_hostile_bodies_are_4xx_in_the_envelope(as_member, raw):
    response = as_member("owner").post("/api/webhooks", raw, content_type="application/json")
    assert 400 <= response.status_code < 500
    envelope(response, response.status_code)
    assert not WebhookEndpoint.objects.exists()


def test_bad_input_on_update_rotate_test_and_resend(as_member, receiver, team):
    client = as_member("owner")
    created = create(client, receiver).json()
    url = f"/api/webhooks/{created['id']}"
    envelope(client.patch(url, {"eventTypes": ["nope"]}, format="json"), 400, "validation_error")
    envelope(client.patch(url, {"colour": "red"}, format="json"), 400, "validation_error")
    envelope(client.patch(url, {"url": "ftp://x"}, format="json"), 400, "validation_error")
    envelope(
        client.post(f"{url}/rotate", {"overlapSeconds": 10**20}, format="json"),
        400,
        "validation_error",
    )
    envelope(
        client.post(f"{url}/rotate", {"overlapSeconds": -1}, format="json"), 400, "validation_error"
    )
    envelope(client.post(f"{url}/test", {"extra": 1}, format="json"), 400, "validation_error")
    envelope(client.post(f"{url}/deliveries/msg_nope/resend"), 404, "not_found")
    envelope(client.get("/api/webhooks/" + "x" * 5000), 404, "not_found")
    for hostile in ("%00abc", "abc%00", "%C3%A9t%C3%A9", "..%2F..%2Fetc"):
        response = client.get(f"/api/webhooks/{hostile}")
        assert 400 <= response.status_code < 500
        envelope(response, response.status_code)
    response = client.post(f"{url}/deliveries/msg_%00x/resend")
    assert 400 <= response.status_code < 500
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["job.succeeded", "balance.low"]
    assert endpoint.previous_secret_until is None
    assert not WebhookMessage.objects.exists()


@pytest.mark.parametrize("role", ["developer", "billing", "viewer"])
def test_roles_below_admin_are_refused(as_member, receiver, team, role):
    endpoint, _secret = endpoint_make(team["org"], team["owner"], receiver.url())
    client = as_member(role)
    envelope(client.get("/api/webhooks"), 403, "permission_denied")
    envelope(create(client, receiver), 403, "permission_denied")
    base = f"/api/webhooks/{endpoint.public_id}"
    envelope(client.get(base), 403)
    envelope(client.patch(base, {"enabled": False}, format="json"), 403)
    envelope(client.delete(base), 403)
    envelope(client.post(f"{base}/rotate"), 403)
    envelope(client.post(f"{base}/test"), 403)
    envelope(client.get(f"{base}/deliveries"), 403)
    assert WebhookEndpoint.objects.get().enabled
    assert not WebhookMessage.objects.exists()


def test_another_tenants_endpoint_is_a_404(api_client_for, receiver, team):
    endpoint, _secret = endpoint_make(team["org"], team["owner"], receiver.url())
    stranger = UserFactory()
    org_make(owner=stranger, name="Other", slug="other")
    client = api_client_for(stranger)  # in their personal context, owner of it
    base = f"/api/webhooks/{endpoint.public_id}"
    envelope(client.get(base), 404, "not_found")
    envelope(client.patch(base, {"enabled": False}, format="json"), 404)
    envelope(client.delete(base), 404)
    envelope(client.post(f"{base}/rotate"), 404)
    envelope(client.post(f"{base}/test"), 404)
    envelope(client.get(f"{base}/deliveries"), 404)
    assert client.get("/api/webhooks").json() == {"endpoints": []}
    assert WebhookEndpoint.objects.get().enabled


def test_signed_out_is_refused(receiver, team):
    from rest_framework.test import APIClient  # noqa: PLC0415 - a bare client

    response = APIClient().get("/api/webhooks")
    assert response.status_code in (401, 403)
    envelope(response, response.status_code)


def test_the_personal_account_has_its_own_endpoints(api_client_for, receiver):
    user = UserFactory()
    client = api_client_for(user)
    created = create(client, receiver)
    assert created.status_code == 201
    endpoint = WebhookEndpoint.objects.get(public_id=created.json()["id"])
    assert endpoint.organization.personal_for == user


def test_deliveries_show_credits_exactly(as_member, receiver, team):
    from django.db import transaction  # noqa: PLC0415

    from webhooks.services import event_emit  # noqa: PLC0415

    client = as_member("owner")
    created = create(client, receiver).json()
    with transaction.atomic():
        event_emit(
            organization=team["org"],
            event_type="balance.low",
            data={"balanceCredits": Decimal("123456789.123457")},
        )
    raw = client.get(f"/api/webhooks/{created['id']}/deliveries").content.decode()
    assert '"balanceCredits":123456789.123457' in raw.replace(" ", "")
