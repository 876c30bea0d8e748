"""Billing fixtures.

``stripe_fake``: Stripe configured with test keys and answered by the in-process
``FakeStripe`` (tests/billing/fake_stripe.py), installed through
``billing.stripe_gateway.set_http_client`` and removed afterwards.
"""

import pytest

from billing import stripe_gateway
from orgs.models import Membership
from orgs.permissions import Role
from orgs.services import invitation_accept, invitation_create, org_create
from tests.accounts.factories import UserFactory

from .fake_stripe import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, FakeStripe


@pytest.fixture
def stripe_fake(settings):
    settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET
    fake = FakeStripe()
    stripe_gateway.set_http_client(fake)
    yield fake
    stripe_gateway.set_http_client(None)


@pytest.fixture
def team_of(db):
    """``team_of(owner, name)`` → a team organization made through ``org_create``."""

    def make(owner, name: str = "Acme Inc"):
        return org_create(actor=owner, name=name)

    return make


@pytest.fixture
def join(db):
    """``join(org, role)`` → a new user who joined ``org`` through an invitation."""

    def make(org, role: str, user=None):
        user = user or UserFactory()
        owner = Membership.objects.filter(organization=org, role=Role.OWNER).first().user
        _invitation, token = invitation_create(
            organization=org, actor=owner, email=user.email, role=role
        )
        invitation_accept(token=token, user=user)
        return user

    return make


@pytest.fixture
def in_context(client_for):
    """``in_context(user, org=None)`` → a signed-in client acting in ``org`` (switched
    through /context/switch as the header's switcher does) or in the personal account."""

    def make(user, org=None):
        client = client_for(user)
        if org is not None:
            response = client.post("/context/switch", {"organization": org.public_id})
            assert response.status_code == 302, response.content
        return client

    return make
