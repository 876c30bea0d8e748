"""``/api/api-keys``: keys of the session's current context, for the roles that may see
and manage them. Bad input is a 400 envelope that changes nothing; every change is audited."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys import keyformat, services
from apikeys.models import ApiKey
from orgs.models import AuditEvent
from tests.accounts.factories import UserFactory

from .factories import CREDIT, assert_envelope, join, key_make, personal, team

pytestmark = pytest.mark.django_db

URL = "/api/api-keys"


def session(user, org=None) -> APIClient:
    """The browser: signed in, acting in ``org`` once switched there via /context/switch."""
    client = APIClient()
    client.force_login(user)
    if org is not None:
        response = client.post("/context/switch", {"organization": org.public_id})
        assert response.status_code == 302, response.content
    client.default_format = "json"
    return client


def audit(org, action=None):
    qs = AuditEvent.objects.filter(organization=org).order_by("pk")
    return qs.filter(action=action) if action else qs


def state(org) -> tuple:
    """Everything a bad request must leave as it was."""
    keys = list(ApiKey.objects.filter(organization=org).order_by("pk").values())
    return keys, audit(org).count()


def test_create_returns_the_plaintext_once(owner):
    client = session(owner)
    response = client.post(URL, {"name": "prod-eu", "spendingLimit": 50000, "autoDisable": True})
    assert response.status_code == 201, response.content
    body = response.json()
    assert keyformat.is_well_formed(body["key"])
    assert body["name"] == "prod-eu"
    assert body["spendingLimit"] == 50000
    assert body["spendingLimitMicrocredits"] == 50000 * 10**6
    assert body["autoDisable"] is True
    assert body["status"] == "active"
    assert body["prefix"] == keyformat.masked(body["key"])
    assert body["createdBy"] == owner.email
    assert body["periodSpendMicrocredits"] == 0

    key = ApiKey.objects.get(public_id=body["id"])
    assert key.organization == personal(owner)
    assert key.created_by == owner
    assert key.secret_hash == keyformat.hash_secret(body["key"])

    listed = client.get(URL)
    assert listed.status_code == 200
    assert body["key"] not in listed.content.decode()
    (row,) = listed.json()["keys"]
    assert "key" not in row and row["id"] == body["id"] and row["prefix"] == body["prefix"]
    one = client.get(f"{URL}/{body['id']}")
    assert one.status_code == 200 and "key" not in one.json()
    assert body["key"] not in one.content.decode()

    (event,) = audit(key.organization, "key.created")
    assert event.actor == owner and event.target_id == key.public_id
    assert event.after["spending_limit_microcredits"] == 50000 * CREDIT
    assert body["key"] not in str(event.after) and body["key"] not in event.target_label


def test_create_with_models_and_expiry(owner):
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    response = session(owner).post(
        URL,
        {
            "name": "ci",
            "expiresAt": expires.isoformat(),
            "allowedModels": ["claude-3-5-sonnet-20241022", "gpt-5.5"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["allowedModels"] == ["claude-sonnet-4-6", "gpt-5.5"]
    assert body["spendingLimit"] is None and body["spendingLimitMicrocredits"] is None
    assert ApiKey.objects.get(public_id=body["id"]).expires_at == expires


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "k", "spendingLimit": 0}, "spendingLimit"),
        ({"name": "k", "spendingLimit": -5}, "spendingLimit"),
        ({"name": "k", "spendingLimit": "lots"}, "spendingLimit"),
        ({"name": "k", "allowedModels": ["gpt-5.5", "gpt-9-imaginary"]}, "allowedModels"),
        ({"name": "k", "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
        ({"name": "k", "expiresAt": "tomorrow"}, "expiresAt"),
        ({"name": "k", "autoDisable": "perhaps"}, "autoDisable"),
    ],
)
def test_bad_input_is_a_400_envelope_and_creates_nothing(owner, body, field):
    client = session(owner)
    org = personal(owner)
    before = state(org)
    error = assert_envelope(client.post(URL, body), 400, "validation_error")
    assert field in error["fields"], error
    assert state(org) == before


def test_unknown_models_are_named(owner):
    client = session(owner)
    error = assert_envelope(
        client.post(URL, {"name": "k", "allowedModels": ["gpt-9-imaginary"]}), 400
    )
    assert "gpt-9-imaginary" in error["fields"]["allowedModels"][0]


def test_patch_changes_the_settings_and_audits_them(owner):
    key, _ = key_make(org=personal(owner), actor=owner, limit_credits=100)
    client = session(owner)
    response = client.patch(
        f"{URL}/{key.public_id}",
        {"name": "prod-us", "spendingLimit": 250, "autoDisable": True, "allowedModels": []},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "prod-us"
    assert body["spendingLimitMicrocredits"] == 250 * CREDIT
    assert body["autoDisable"] is True
    (event,) = audit(key.organization, "key.updated")
    assert event.before == {
        "name": "prod-eu",
        "spending_limit_microcredits": 100 * CREDIT,
        "auto_disable": False,
    }
    assert event.after["spending_limit_microcredits"] == 250 * CREDIT
    # Removing the limit.
    response = client.patch(f"{URL}/{key.public_id}", {"spendingLimit": None})
    assert response.json()["spendingLimitMicrocredits"] is None
    # A PATCH that changes nothing writes no audit event.
    count = audit(key.organization).count()
    assert client.patch(f"{URL}/{key.public_id}", {"name": "prod-us"}).status_code == 200
    assert audit(key.organization).count() == count


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"spendingLimit": 0}, "spendingLimit"),
        ({"spendingLimit": -1}, "spendingLimit"),
        ({"spendingLimit": "ten"}, "spendingLimit"),
        ({"allowedModels": ["nope-1"]}, "allowedModels"),
        ({"name": "ok", "expiresAt": "2001-01-01T00:00:00Z"}, "expiresAt"),
    ],
)
def test_a_bad_patch_changes_nothing(owner, body, field):
    key, _ = key_make(org=personal(owner), actor=owner, limit_credits=100)
    before = state(key.organization)
    error = assert_envelope(
        session(owner).patch(f"{URL}/{key.public_id}", body), 400, "validation_error"
    )
    assert field in error["fields"]
    assert state(key.organization) == before


def test_delete_revokes_and_audits(owner):
    key, _plaintext = key_make(org=personal(owner), actor=owner)
    client = session(owner)
    response = client.delete(f"{URL}/{key.public_id}")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "revoked"
    assert ApiKey.objects.get(pk=key.pk).status == "revoked"
    assert audit(key.organization, "key.revoked").count() == 1
    # Revoked keys leave the list; revoking again changes nothing.
    assert client.get(URL).json()["keys"] == []
    assert client.delete(f"{URL}/{key.public_id}").status_code == 200
    assert audit(key.organization, "key.revoked").count() == 1
    # And a revoked key cannot be edited or rotated.
    assert_envelope(client.patch(f"{URL}/{key.public_id}", {"name": "x"}), 409, "key_revoked")
    assert_envelope(client.post(f"{URL}/{key.public_id}/rotate", {}), 409, "key_revoked")


def test_rotate_returns_a_new_secret_once(owner):
    key, old = key_make(org=personal(owner), actor=owner)
    client = session(owner)
    response = client.post(f"{URL}/{key.public_id}/rotate", {"gracePeriodSeconds": 3600})
    assert response.status_code == 200, response.content
    body = response.json()
    new = body["key"]
    assert keyformat.is_well_formed(new) and new != old
    assert body["prefix"] == keyformat.masked(new)
    row = ApiKey.objects.get(pk=key.pk)
    assert row.secret_hash == keyformat.hash_secret(new)
    assert row.previous_secret_hash == keyformat.hash_secret(old)
    assert timedelta(minutes=59) < row.previous_valid_until - timezone.now() <= timedelta(hours=1)
    (event,) = audit(key.organization, "key.rotated")
    assert event.after == {"grace_seconds": 3600}
    assert new not in client.get(URL).content.decode()


@pytest.mark.parametrize("grace", [86401, -1, "a day"])
def test_rotate_grace_beyond_24h_is_refused(owner, grace):
    key, _ = key_make(org=personal(owner), actor=owner)
    before = state(key.organization)
    error = assert_envelope(
        session(owner).post(f"{URL}/{key.public_id}/rotate", {"gracePeriodSeconds": grace}),
        400,
        "validation_error",
    )
    assert "gracePeriodSeconds" in error["fields"]
    assert state(key.organization) == before


def test_enable_is_audited_when_done_from_the_page(owner):
    """(``key.enabled`` comes from the console; see test_pages and test_caps.)"""
    key, _ = key_make(org=personal(owner), actor=owner)
    with transaction.atomic():
        services.apikey_auto_disable_in_transaction(key_id=key.pk, reason="spending_limit_reached")
    services.apikey_enable(key=key, actor=owner)
    assert [e.action for e in audit(key.organization)] == [
        "key.created",
        "key.disabled",
        "key.enabled",
    ]


# --- context and roles -------------------------------------------------------------------


def test_keys_belong_to_the_current_context(owner):
    org = team(owner)
    personal_key, _ = key_make(org=personal(owner), actor=owner, name="mine")
    client = session(owner)
    assert [k["name"] for k in client.get(URL).json()["keys"]] == ["mine"]

    client.post("/context/switch", {"organization": org.public_id}, format="multipart")
    response = client.post(URL, {"name": "team-key"})
    assert response.status_code == 201
    assert ApiKey.objects.get(public_id=response.json()["id"]).organization == org
    assert [k["name"] for k in client.get(URL).json()["keys"]] == ["team-key"]
    # The personal key is not reachable from the team context.
    assert_envelope(client.get(f"{URL}/{personal_key.public_id}"), 404, "not_found")

    client.post("/context/switch", {"organization": ""}, format="multipart")
    assert [k["name"] for k in client.get(URL).json()["keys"]] == ["mine"]


@pytest.mark.parametrize("role", ["owner", "admin", "developer"])
def test_managing_roles_may_do_everything(owner, role):
    org = team(owner)
    user = owner if role == "owner" else join(org, role)
    client = session(user, org)
    created = client.post(URL, {"name": f"{role}-key", "spendingLimit": 10})
    assert created.status_code == 201, created.content
    key_id = created.json()["id"]
    assert client.get(URL).status_code == 200
    # Lowering a cap is every managing role's right; raising it is not (test_caps_roles).
    assert client.patch(f"{URL}/{key_id}", {"spendingLimit": 5}).status_code == 200
    assert client.post(f"{URL}/{key_id}/rotate", {}).status_code == 200
    assert client.delete(f"{URL}/{key_id}").status_code == 200
    assert [e.action for e in audit(org).filter(action__startswith="key.")] == [
        "key.created",
        "key.updated",
        "key.rotated",
        "key.revoked",
    ]
    assert set(audit(org).filter(action__startswith="key.").values_list("actor", flat=True)) == {
        user.pk
    }


def test_a_viewer_may_read_but_not_change(owner):
    org = team(owner)
    key, _ = key_make(org=org, actor=owner)
    client = session(join(org, "viewer"), org)
    assert client.get(URL).status_code == 200
    assert client.get(f"{URL}/{key.public_id}").status_code == 200
    before = state(org)
    assert_envelope(client.post(URL, {"name": "x"}), 403, "permission_denied")
    assert_envelope(client.patch(f"{URL}/{key.public_id}", {"name": "x"}), 403)
    assert_envelope(client.delete(f"{URL}/{key.public_id}"), 403)
    assert_envelope(client.post(f"{URL}/{key.public_id}/rotate", {}), 403)
    assert state(org) == before


def test_billing_may_not_even_list_keys(owner):
    org = team(owner)
    key, _ = key_make(org=org, actor=owner)
    client = session(join(org, "billing"), org)
    assert_envelope(client.get(URL), 403, "permission_denied")
    assert_envelope(client.get(f"{URL}/{key.public_id}"), 403)
    assert_envelope(client.post(URL, {"name": "x"}), 403)


def test_another_organizations_key_is_404(owner):
    org = team(owner)
    key, _ = key_make(org=org, actor=owner)
    stranger = UserFactory()
    other = team(stranger, "Globex")
    for client in (session(stranger), session(stranger, other)):
        assert_envelope(client.get(f"{URL}/{key.public_id}"), 404, "not_found")
        assert_envelope(client.patch(f"{URL}/{key.public_id}", {"name": "x"}), 404)
        assert_envelope(client.delete(f"{URL}/{key.public_id}"), 404)
        assert_envelope(client.post(f"{URL}/{key.public_id}/rotate", {}), 404)
    assert ApiKey.objects.get(pk=key.pk).status == "active"


def test_signed_out_is_401():
    assert_envelope(APIClient().get(URL), 401, "not_authenticated")
    assert_envelope(APIClient().post(URL, {"name": "x"}, format="json"), 401)
