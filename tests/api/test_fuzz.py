"""A bounded schemathesis run: every operation of the OpenAPI document, fed generated
(valid and invalid) input through the WSGI application, never answers a 5xx.

The browser API is called with a signed-in session (and its CSRF token), the internal API
with a service token, ``/v1/key`` with a customer key. The document is drf-spectacular's,
built in-process (the same one ``/api/schema/`` serves). Runs are derandomized and small,
so CI time stays bounded and a failure reproduces.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings

from apikeys.services import apikey_create, service_token_create
from billing import ledger
from hypereal_site.wsgi import application as django_application
from orgs.services import invitation_create, personal_org_get_or_create
from sso.services import connection_create as sso_connection_create
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import fund, wallet_of
from tests.orgs.factories import member_add, org_make

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))


def application(environ, start_response):
    """The WSGI app as a server runs it: with the client's address, which werkzeug's test
    client leaves out (allauth refuses a request without one)."""
    environ.setdefault("REMOTE_ADDR", "203.0.113.9")
    # As Django's test client does: the handler must not close the test's database
    # connection (its transaction holds the test's data) at the end of the request. The
    # test client reconnects the closer after each of its own requests, so this is done
    # per request; the fixture below restores it after the test.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    return django_application(environ, start_response)


FUZZ = settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(autouse=True)
def _restore_the_connection_closer():
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def credentials(db):
    """Headers and cookies for each surface: a signed-in owner of a team (session and CSRF
    token), a service token, a customer key."""
    user = UserFactory()
    org = org_make(owner=user, name="Fuzz Inc")
    member = member_add(org, role="developer")
    invitation, _ = invitation_create(
        organization=org, actor=user, email="fuzzed@example.com", role="viewer"
    )
    browser = Client()
    browser.force_login(user)
    browser.get("/dashboard")  # sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    _token, service = service_token_create(name="fuzz")
    personal = personal_org_get_or_create(user=user)
    fund(personal, 1_000)
    key, customer = apikey_create(organization=personal, actor=user, name="fuzz")
    hold, _ = ledger.hold_place(
        wallet=wallet_of(personal),
        amount_microcredits=1_000_000,
        reference="fuzz",
        expires_in_seconds=3600,
        key=key,
    )
    connection = sso_connection_create(
        organization=org,
        actor=user,
        type="oidc",
        domains=["fuzz.example.com"],
        oidc_issuer="https://login.example.com",
        oidc_client_id="fuzz",
        client_secret="fuzz-secret",
    )
    ids = {
        "org_id": org.public_id,
        "provider_id": connection.provider_id,
        "domain": "fuzz.example.com",
        "member_id": member.public_id,
        "invitation_id": invitation.public_id,
        "key_id": key.public_id,
        "hold_id": hold.public_id,
    }

    def for_case(case) -> dict:
        # Real ids, so that generated bodies reach the code behind the lookups (random
        # ids only ever meet a 404, which the NUL walker covers).
        for name in case.path_parameters or {}:
            if name in ids:
                case.path_parameters[name] = ids[name]
        path = case.path
        if path.startswith("/internal/"):
            return {"headers": {"Authorization": f"Bearer {service}"}}
        if path.startswith("/v1/"):
            return {"headers": {"Authorization": f"Bearer {customer}"}}
        return {
            "headers": {"X-CSRFToken": csrf},
            "cookies": {"sessionid": browser.cookies["sessionid"].value, "csrftoken": csrf},
        }

    return for_case


@schema.parametrize()
@FUZZ
def test_no_operation_answers_a_server_error(case, credentials):
    extra = credentials(case)
    response = case.call(app=application, **extra)
    assert response.status_code < 500, (
        case.method,
        case.formatted_path,
        case.body if hasattr(case, "body") else None,
        response.text[:500],
    )


def test_the_fuzzed_document_covers_every_surface():
    paths = set(schema.raw_schema["paths"])
    assert {"/api/api-keys", "/internal/v1/usage", "/internal/v1/keys/verify", "/v1/key"} <= paths
