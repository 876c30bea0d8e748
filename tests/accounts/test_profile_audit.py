"""A profile update writes an audit event in the user's personal account, as every other
sensitive change does (old → new)."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from orgs.models import AuditEvent
from orgs.services import personal_org_get_or_create

pytestmark = pytest.mark.django_db


def test_a_profile_update_on_the_settings_page_is_audited(user):
    user.name = "Ada"
    user.save()
    client = Client()
    client.force_login(user)
    response = client.post("/settings/account", {"name": "Ada Lovelace"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="account.profile_updated")
    assert event.organization == personal_org_get_or_create(user=user)
    assert event.actor == user
    assert (event.before, event.after) == ({"name": "Ada"}, {"name": "Ada Lovelace"})
    # Saving the same name changes nothing and records nothing.
    client.post("/settings/account", {"name": "Ada Lovelace"})
    assert AuditEvent.objects.filter(action="account.profile_updated").count() == 1


def test_a_profile_update_through_the_api_is_audited(user):
    client = APIClient()
    client.force_login(user)
    response = client.patch("/api/me", {"name": "Grace"}, format="json")
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(action="account.profile_updated")
    assert event.after == {"name": "Grace"}
