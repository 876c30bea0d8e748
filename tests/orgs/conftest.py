"""Fixtures for the organizations suite: ``org``, ``owner``, ``member(role=…)``, ``outsider``.

A "member" here is a real membership made by invitation; a signed-in client acts in the
organization's context once ``switch_to(client, org)`` has gone through /context/switch,
exactly as the header's switcher does it.
"""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from orgs.context import SESSION_KEY
from orgs.models import AuditEvent, Membership, Organization
from tests.accounts.factories import UserFactory

from .factories import member_add, org_make

# Where requests "come from" in tests that check the audit trail's origin fields.
IP = "203.0.113.7"
UA = "HyperealTest/1.0 (audit)"


@pytest.fixture
def owner(db):
    return UserFactory()


@pytest.fixture
def org(owner) -> Organization:
    return org_make(owner=owner, name="Acme Inc")


@pytest.fixture
def member(org):
    """``member(role="admin")`` → a new user's Membership of ``org`` (or of ``org=``)."""

    def make(role: str, *, org: Organization = org, user=None) -> Membership:
        return member_add(org, role=role, user=user)

    return make


@pytest.fixture
def outsider(db):
    """A user who owns another organization and has nothing to do with ``org``."""
    user = UserFactory()
    org_make(owner=user, name="Globex")
    return user


@pytest.fixture
def web(db):
    """``web(user)`` → a signed-in browser client sending a fixed IP and user agent."""

    def make(user, *, org: Organization | None = None) -> Client:
        client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
        client.force_login(user)
        if org is not None:
            switch_to(client, org)
        return client

    return make


@pytest.fixture
def api(db):
    """``api(user)`` → a DRF client with the user's session, fixed IP and user agent."""

    def make(user) -> APIClient:
        client = APIClient(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
        client.default_format = "json"  # the API speaks JSON only
        client.force_login(user)
        return client

    return make


def switch_to(client: Client, org: Organization) -> None:
    """Switch as the header does, and land on the dashboard (which shows, and so uses up,
    the "Switched to …" message)."""
    response = client.post("/context/switch", {"organization": org.public_id}, follow=True)
    assert response.redirect_chain == [("/dashboard", 302)], response.content
    assert client.session[SESSION_KEY] == org.public_id


def events(org: Organization, action: str | None = None):
    qs = AuditEvent.objects.filter(organization=org).order_by("pk")
    return qs.filter(action=action) if action else qs


def assert_envelope(response, status: int, error_type: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    if error_type is not None:
        assert body["error"]["type"] == error_type, body
    return body["error"]
