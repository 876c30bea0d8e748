"""Key names are unique among an owner's active keys, case-insensitively: revoking asks for
the name, so it must pick one key. Revoked keys free their name; other owners are separate."""

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from rest_framework.test import APIClient

from apikeys import services
from apikeys.models import ApiKey

from .factories import assert_envelope, join, key_make, personal, team

pytestmark = pytest.mark.django_db

URL = "/api/api-keys"


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    client.default_format = "json"
    return client


def test_the_api_refuses_a_taken_name_naming_the_field(owner):
    key_make(org=personal(owner), actor=owner, name="prod-eu")
    before = ApiKey.objects.count()

    error = assert_envelope(api(owner).post(URL, {"name": "PROD-EU"}), 400, "validation_error")

    assert error["message"].startswith("name: ")
    assert "already exists" in error["message"]
    assert set(error["fields"]) == {"name"}
    assert ApiKey.objects.count() == before


def test_renaming_onto_a_taken_name_is_refused(owner):
    org = personal(owner)
    key_make(org=org, actor=owner, name="a")
    other, _ = key_make(org=org, actor=owner, name="b")
    response = api(owner).patch(f"{URL}/{other.public_id}", {"name": "A"})
    assert_envelope(response, 400, "validation_error")
    other.refresh_from_db()
    assert other.name == "b"
    # Renaming a key to its own name in another case is its own business.
    assert api(owner).patch(f"{URL}/{other.public_id}", {"name": "B"}).status_code == 200


def test_the_form_shows_the_error_on_the_name(owner):
    key_make(org=personal(owner), actor=owner, name="prod-eu")
    client = Client()
    client.force_login(owner)
    response = client.post("/manage-api-keys/new", {"name": "prod-eu", "spending_limit": "5"})
    assert response.status_code == 400
    assert "already exists" in " ".join(response.context["form"]["name"].errors)
    assert ApiKey.objects.filter(name="prod-eu").count() == 1


def test_a_revoked_keys_name_is_free_and_other_owners_are_separate(owner):
    org = personal(owner)
    old, _ = key_make(org=org, actor=owner, name="prod-eu")
    services.apikey_revoke(key=old, actor=owner)
    new, _ = key_make(org=org, actor=owner, name="prod-eu")
    team_key, _ = key_make(org=team(owner), actor=owner, name="prod-eu")
    old.refresh_from_db()
    assert (old.status, new.status, team_key.status) == ("revoked", "active", "active")
    # Rotation changes the secret of the same row, so a named key rotates freely.
    rotated, plaintext = services.apikey_rotate(key=new, actor=owner, grace_seconds=60)
    assert rotated.pk == new.pk and rotated.name == "prod-eu" and plaintext


def test_the_database_refuses_a_duplicate_the_checks_missed(owner):
    org = personal(owner)
    key_make(org=org, actor=owner, name="prod-eu")
    twin = ApiKey(organization=org, name="Prod-EU", masked="x", secret_hash="f" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


def test_a_concurrent_duplicate_is_the_same_field_error(owner, monkeypatch):
    """Two requests pass the check together; the constraint stops the second, and it
    answers as the check would have."""
    org = team(owner)
    developer = join(org, "developer")
    key_make(org=org, actor=owner, name="prod-eu")
    real = services._name_taken
    calls = []

    def racing(*args, **kwargs):
        calls.append(args)
        return False if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(services, "_name_taken", racing)
    with pytest.raises(services.ValidationError) as caught:
        services.apikey_create(
            organization=org, actor=developer, name="PROD-eu", spending_limit_microcredits=1
        )
    assert "already exists" in caught.value.message_dict["name"][0]
    assert ApiKey.objects.filter(organization=org).count() == 1
