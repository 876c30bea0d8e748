"""Fixtures for the SSO suite: a team ``org`` with its ``owner``, ``api(user)``, ``web(user)``
in the organization's context, and ``nameserver``, a DNS server on loopback that the console asks
(``settings.DNS_RESOLVER`` points at it); the real IdPs ``saml_idp`` and ``oidc_idp``
come from ``idps.py``."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from sso import services
from sso.models import SsoDomain
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import join, team
from tests.site.pages import in_org

from .dnsserver import FakeDnsServer
from .idps import _loopback_outbound, node_idps_installed, oidc_idp, saml_idp  # noqa: F401


@pytest.fixture
def nameserver(settings):
    server = FakeDnsServer().start()
    settings.DNS_RESOLVER = server.address
    settings.DNS_TIMEOUT_SECONDS = 1.0
    yield server
    server.stop()


@pytest.fixture
def owner(db):
    return UserFactory()


@pytest.fixture
def org(owner):
    return team(owner, "Acme Inc")


@pytest.fixture
def api(db):
    def make(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def web(db):
    def make(user, org=None) -> Client:
        client = Client()
        client.force_login(user)
        if org is not None:
            in_org(client, org)
        return client

    return make


def member_of(org, role: str):
    return join(org, role)


def claim(org, owner, name: str = "example.com") -> SsoDomain:
    return services.domain_claim(organization=org, actor=owner, domain=name)


def verified(org, owner, nameserver, name: str = "example.com") -> SsoDomain:
    domain = SsoDomain.objects.filter(organization=org, name=name).first() or claim(
        org, owner, name
    )
    nameserver.publish(domain.record_name, domain.token)
    return services.domain_verify(domain=domain, actor=owner)


def assert_envelope(response, status: int, type: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["type"] == type, body
    return body["error"]
