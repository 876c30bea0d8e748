"""Service tokens and rate-limit overrides write audit events like every other sensitive
change: who, what, old → new, in the same transaction."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from apikeys import services
from apikeys.models import OwnerRateLimit, ServiceToken
from orgs.models import AuditEvent

from .factories import team

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser(email="ops@hypereal.example", password="long-passphrase")


def staff(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- service tokens ---------------------------------------------------------------------------


def test_creating_and_revoking_a_service_token_is_audited(superuser):
    token, plaintext = services.service_token_create(name="gateway-eu", actor=superuser)
    (created,) = AuditEvent.objects.filter(action="service_token.created")
    assert created.organization is None  # a platform event: no tenant's log shows it
    assert created.actor == superuser
    assert (created.target_type, created.target_id, created.target_label) == (
        "service_token",
        token.prefix,
        "gateway-eu",
    )
    assert plaintext not in str(created.after) and token.token_hash not in str(created.after)

    services.service_token_revoke(token=token, actor=superuser)
    services.service_token_revoke(token=token, actor=superuser)  # again: nothing new
    (revoked,) = AuditEvent.objects.filter(action="service_token.revoked")
    assert revoked.before == {"revoked": False} and revoked.after == {"revoked": True}


def test_the_command_line_token_is_audited_as_system(capsys):
    call_command("create_service_token", "batch-gateway")
    event = AuditEvent.objects.get(action="service_token.created")
    assert event.actor is None and event.actor_label == "system"
    assert event.target_label == "batch-gateway"


def test_revoking_in_the_admin_is_audited_with_the_staff_member(superuser):
    token, _ = services.service_token_create(name="gateway-us")
    response = staff(superuser).post(
        "/admin/apikeys/servicetoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    event = AuditEvent.objects.get(action="service_token.revoked")
    assert event.actor == superuser


def test_a_failed_token_creation_records_nothing():
    services.service_token_create(name="dup")
    with pytest.raises(services.ValidationError):
        services.service_token_create(name="dup")
    assert AuditEvent.objects.filter(action="service_token.created").count() == 1
    assert ServiceToken.objects.filter(name="dup").count() == 1


# --- rate limits ------------------------------------------------------------------------------


def test_rate_limit_overrides_in_the_admin_are_audited(superuser, user):
    org = team(user)
    client = staff(superuser)
    add = client.post(
        "/admin/apikeys/ownerratelimit/add/",
        {
            "organization": org.pk,
            "requests_per_minute": 600,
            "tokens_per_minute": 100000,
            "note": "launch week",
        },
    )
    assert add.status_code == 302, add.content[:2000]
    limit = OwnerRateLimit.objects.get(organization=org)
    event = AuditEvent.objects.get(organization=org, action="rate_limit.set")
    assert event.actor == superuser and event.before is None
    assert event.after == {
        "requests_per_minute": 600,
        "tokens_per_minute": 100000,
        "note": "launch week",
    }

    change = client.post(
        f"/admin/apikeys/ownerratelimit/{limit.pk}/change/",
        {
            "organization": org.pk,
            "requests_per_minute": 1200,
            "tokens_per_minute": 100000,
            "note": "launch week",
        },
    )
    assert change.status_code == 302
    event = AuditEvent.objects.get(organization=org, action="rate_limit.changed")
    assert event.before["requests_per_minute"] == 600
    assert event.after["requests_per_minute"] == 1200

    delete = client.post(f"/admin/apikeys/ownerratelimit/{limit.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 302
    assert not OwnerRateLimit.objects.filter(organization=org).exists()
    event = AuditEvent.objects.get(organization=org, action="rate_limit.removed")
    assert event.before["requests_per_minute"] == 1200 and event.after is None
