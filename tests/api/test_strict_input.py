"""Every browser API refuses unknown body fields with a 400 that names them, and changes
nothing: walked over every writable ``/api/`` route with real objects behind its ids."""

import pytest
from django.urls import resolve, reverse
from drf_spectacular.generators import SchemaGenerator

from apikeys.models import ApiKey
from apikeys.services import apikey_create
from infra.models import Deployment
from orgs import services as org_services
from orgs.models import AuditEvent
from orgs.services import personal_org_get_or_create
from sso import services as sso_services
from tests.orgs.factories import member_add, org_make
from tests.sso.metadata import idp_metadata
from webhooks.models import WebhookEndpoint, WebhookMessage

from .envelope import assert_envelope
from .routes import BODY_METHODS, api_routes

pytestmark = pytest.mark.django_db

WRITABLE = [
    pytest.param(route, method, id=f"{method} {route}")
    for route in api_routes()
    if route.path.startswith("/api/") and route.allowed_methods
    for method in route.allowed_methods
    if method in (*BODY_METHODS, "DELETE")
]
TYPO = "spendinglimit"


_GENERATOR = SchemaGenerator()


def declared_input(route, method):
    """The serializer the operation declares for its body (None: it takes none), as the
    API documentation shows it."""
    match = resolve(route.path)
    view = _GENERATOR.create_view(match.func, method)
    schema = view.schema
    schema.path = schema.path_regex = route.path
    schema.method = method
    return schema.get_request_serializer()


@pytest.fixture
def scene(user):
    org = org_make(owner=user, name="Strict Inc")
    developer = member_add(org, role="developer")
    invitation, _token = org_services.invitation_create(
        organization=org, actor=user, email="new@example.com", role="viewer"
    )
    key, _plaintext = apikey_create(
        organization=personal_org_get_or_create(user=user), actor=user, name="strict"
    )
    connection = sso_services.connection_create(
        organization=org,
        actor=user,
        type="saml",
        domains=["strict.example.com"],
        metadata_xml=idp_metadata(),
    )
    # Made directly (no provider call): an unknown field is refused before any service runs.
    deployment = Deployment.objects.create(
        organization=personal_org_get_or_create(user=user),
        slug="strict",
        name="strict",
        docker_image="runpod/worker-comfyui:5.1.0-base",
        gpu_types=["ADA_24"],
    )
    endpoint = WebhookEndpoint.objects.create(
        organization=personal_org_get_or_create(user=user),
        url="https://hooks.example.com/strict",
        event_types=["job.failed"],
    )
    message = WebhookMessage.objects.create(
        organization=endpoint.organization, endpoint=endpoint, event_type="job.failed", body="{}"
    )
    return {
        "slug": deployment.slug,
        "endpoint_id": endpoint.public_id,
        "delivery_id": message.event_id,
        "org_id": org.public_id,
        "member_id": developer.public_id,
        "invitation_id": invitation.public_id,
        "key_id": key.public_id,
        "provider_id": connection.provider_id,
        "domain": "strict.example.com",
    }


def _real_path(route, scene) -> str:
    """The route's path with real ids."""
    match = resolve(route.path)
    return reverse(match.view_name, kwargs={name: scene[name] for name in match.kwargs})


@pytest.mark.parametrize(("route", "method"), WRITABLE)
def test_an_unknown_field_is_a_400_that_names_it(route, method, scene, user, api_client_for):
    path = _real_path(route, scene)
    if declared_input(route, method) is None:
        # An operation that takes no body (leave, revoke, resend, remove): it has no
        # field to mistype, and its documentation says so.
        assert method in {"POST", "DELETE"}, (method, route)
        return
    audit_before = AuditEvent.objects.count()
    keys_before = ApiKey.objects.count()

    response = api_client_for(user).generic(
        method, path, f'{{"{TYPO}": 5, "other_typo": 1}}', content_type="application/json"
    )

    error = assert_envelope(response, 400, "validation_error")
    assert {TYPO, "other_typo"} <= set(error["fields"]), error
    assert TYPO in error["message"] or "other_typo" in error["message"]
    assert AuditEvent.objects.count() == audit_before, "nothing changed"
    assert ApiKey.objects.count() == keys_before


def test_the_walk_covers_every_input_serializer():
    with_input = {
        (p.values[0].name, p.values[1])
        for p in WRITABLE
        if declared_input(p.values[0], p.values[1]) is not None
    }
    assert {("api-keys", "POST"), ("api-key", "PATCH"), ("api-org", "DELETE")} <= with_input
    assert len(with_input) >= 9


def test_a_typo_never_creates_an_uncapped_key(user, api_client_for):
    client = api_client_for(user)
    response = client.post(
        "/api/api-keys", {"name": "capped", TYPO: 50}, content_type="application/json"
    )
    error = assert_envelope(response, 400, "validation_error")
    assert error["message"].startswith(f"{TYPO}: Unknown field")
    assert "spendingLimit" in error["message"]  # the accepted names help fix the typo
    assert not ApiKey.objects.filter(name="capped").exists()

    ok = client.post(
        "/api/api-keys", {"name": "capped", "spendingLimit": 50}, content_type="application/json"
    )
    assert ok.status_code == 201, ok.content


def test_nested_and_query_parameters_are_not_body_fields(user, api_client_for, scene):
    # Query parameters (filters, cursors, limits) are not the body: still accepted.
    client = api_client_for(user)
    response = client.get(f"/api/orgs/{scene['org_id']}/audit", {"limit": 5, "action": "org."})
    assert response.status_code == 200
