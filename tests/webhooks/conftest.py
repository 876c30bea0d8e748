import pytest
from django.test import override_settings

from orgs.permissions import Role
from tests.apikeys.factories import internal, owner, svc_token  # noqa: F401
from tests.orgs.factories import member_add, org_make

from .receiver import Receiver


@pytest.fixture(autouse=True)
def _loopback_allowed():
    """The receiver listens on 127.0.0.1 over http: what development and tests allow."""
    with override_settings(ALLOW_PRIVATE_OUTBOUND=True):
        yield


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def team(db):
    """An organization with one member of every role: {"org", "owner", "admin", ...}."""
    org = org_make(name="Acme Inc", slug="acme")
    from tests.orgs.factories import org_owner  # noqa: PLC0415 - one helper

    people = {"org": org, "owner": org_owner(org)}
    for role in (Role.ADMIN, Role.DEVELOPER, Role.BILLING, Role.VIEWER):
        people[str(role)] = member_add(org, role=role).user
    return people


@pytest.fixture
def as_member(client_for, api_client_for, team):
    """``as_member(role, api=True)``: a signed-in client of the team's member with that
    role, working in the team's context."""

    def make(role: str, *, api: bool = True, user=None):
        user = user or team[role]
        client = api_client_for(user) if api else client_for(user)
        response = client.post("/context/switch", {"organization": team["org"].public_id})
        assert response.status_code == 302
        return client

    return make
