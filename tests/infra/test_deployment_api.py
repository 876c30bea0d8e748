"""``/v1/deployments`` (a ``ck_`` key), ``/api/deployments`` (session) and ``/v1/gpu-types``:
shapes, the provider endpoint behind each deployment (at the simulator, through the real
RunPod adapter), bad input, roles and tenants."""

import base64
import json

import pytest
from django.db import connection
from rest_framework.test import APIClient

from infra.models import Deployment, GpuType
from orgs.models import AuditEvent, Membership
from orgs.permissions import Role
from orgs.services import member_set_role
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import join, key_make, personal, team
from tests.gpusim import endpoint_ids, endpoint_with_template

pytestmark = pytest.mark.django_db

CREATE = {
    "slug": "my-comfy-workflow",
    "name": "My Comfy",
    "dockerImage": "runpod/worker-comfyui:dev-cuda12.1.1",
    "gpuTypes": "ADA_48_PRO,AMPERE_80",
}


def customer(plaintext: str, form: str = "bearer") -> APIClient:
    client = APIClient()
    if form == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    elif form == "x-api-key":
        client.credentials(HTTP_X_API_KEY=plaintext)
    elif form == "x-goog-api-key":
        client.credentials(HTTP_X_GOOG_API_KEY=plaintext)
    return client


def url(path: str, plaintext: str, form: str) -> str:
    return f"{path}?key={plaintext}" if form == "query" else path


def envelope(response, status: int, error_type: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:400])
    body = response.json()
    assert set(body) == {"error"}, body
    if error_type:
        assert body["error"]["type"] == error_type, body
    return body["error"]


@pytest.fixture
def owner_key(user):
    org = personal(user)
    _key, plaintext = key_make(org=org, actor=user)
    return org, plaintext


# --- /v1/gpu-types ---------------------------------------------------------------------------


def test_gpu_types_are_public_with_exact_per_second_credits(db):
    response = APIClient().get("/v1/gpu-types")

    assert response.status_code == 200
    rows = response.json()["gpuTypes"]
    assert [r["code"] for r in rows] == list(
        GpuType.objects.filter(active=True).values_list("code", flat=True)
    )
    assert {"ADA_24", "ADA_48_PRO", "AMPERE_80", "HOPPER_141"} <= {r["code"] for r in rows}
    ada = GpuType.objects.get(code="ADA_48_PRO")
    row = next(r for r in rows if r["code"] == "ADA_48_PRO")
    assert row["microcreditsPerSecond"] == ada.microcredits_per_second
    assert row["memoryGb"] == ada.memory_gb
    # Exact decimal in the JSON text, never through a float.
    assert f'"creditsPerSecond":{ada.microcredits_per_second / 1_000_000:f}'.rstrip("0") in (
        response.content.decode()
    )


def test_an_inactive_gpu_type_is_neither_listed_nor_accepted(owner_key, gpu_simulator):
    GpuType.objects.filter(code="AMPERE_80").update(active=False)
    assert "AMPERE_80" not in {
        r["code"] for r in APIClient().get("/v1/gpu-types").json()["gpuTypes"]
    }
    _org, plaintext = owner_key
    response = customer(plaintext).post("/v1/deployments", CREATE, format="json")
    assert "AMPERE_80" in envelope(response, 400, "validation_error")["message"]


# --- create --------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["bearer", "x-api-key", "x-goog-api-key", "query"])
def test_create_with_a_key_in_each_form(form, owner_key, gpu_simulator):
    org, plaintext = owner_key
    client = customer(plaintext, form) if form != "query" else APIClient()

    response = client.post(url("/v1/deployments", plaintext, form), CREATE, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    deployment = Deployment.objects.get(organization=org, slug="my-comfy-workflow")
    assert body["id"] == deployment.public_id
    assert body["slug"] == "my-comfy-workflow"
    assert body["name"] == "My Comfy"
    assert body["dockerImage"] == "runpod/worker-comfyui:dev-cuda12.1.1"
    assert body["gpuTypes"] == ["ADA_48_PRO", "AMPERE_80"]
    assert body["status"] == "deploying"
    assert "webhookSecret" not in body  # no webhook URL, no secret
    # The hold a job will take: 600 s × 1 GPU × the dearer of the two rates.
    top = max(
        GpuType.objects.filter(code__in=["ADA_48_PRO", "AMPERE_80"]).values_list(
            "microcredits_per_second", flat=True
        )
    )
    assert body["holdPerJobMicrocredits"] == 600 * top
    # The provider endpoint exists, with RunPod's GPU ids in priority order.
    assert endpoint_ids(gpu_simulator) == {deployment.provider_endpoint_id}
    endpoint = endpoint_with_template(gpu_simulator, deployment.provider_endpoint_id)
    assert endpoint["gpuTypeIds"] == [
        GpuType.objects.get(code="ADA_48_PRO").provider_gpu_id,
        GpuType.objects.get(code="AMPERE_80").provider_gpu_id,
    ]
    assert (endpoint["gpuCount"], endpoint["workersMin"], endpoint["workersMax"]) == (1, 0, 1)
    assert endpoint["executionTimeoutMs"] == 600_000
    assert endpoint["template"]["imageName"] == "runpod/worker-comfyui:dev-cuda12.1.1"


def test_gpu_types_as_a_list_and_every_setting(owner_key, gpu_simulator):
    _org, plaintext = owner_key
    body = {
        **CREATE,
        "gpuTypes": ["HOPPER_141", "ADA_24"],
        "gpuCount": 2,
        "minWorkers": 1,
        "maxWorkers": 3,
        "idleTimeoutSeconds": 30,
        "executionTimeoutSeconds": 120,
        "env": {"HF_TOKEN": "hf_secret_value_123", "MODE": "fast"},
    }

    response = customer(plaintext).post("/v1/deployments", body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["gpuTypes"] == ["HOPPER_141", "ADA_24"]
    assert (data["gpuCount"], data["minWorkers"], data["maxWorkers"]) == (2, 1, 3)
    assert (data["idleTimeoutSeconds"], data["executionTimeoutSeconds"]) == (30, 120)
    assert data["envNames"] == ["HF_TOKEN", "MODE"]
    assert b"hf_secret_value_123" not in response.content
    hopper = GpuType.objects.get(code="HOPPER_141").microcredits_per_second
    assert data["holdPerJobMicrocredits"] == 120 * 2 * hopper
    deployment = Deployment.objects.get(slug="my-comfy-workflow")
    # Encrypted at rest: the raw column does not hold the value.
    with connection.cursor() as cursor:
        cursor.execute("SELECT env_encrypted FROM infra_deployment WHERE id = %s", [deployment.pk])
        raw = cursor.fetchone()[0]
    assert "hf_secret_value_123" not in raw and "HF_TOKEN" not in raw
    # The provider gets the values, and every other setting.
    endpoint = endpoint_with_template(gpu_simulator, deployment.provider_endpoint_id)
    assert endpoint["template"]["env"] == {"HF_TOKEN": "hf_secret_value_123", "MODE": "fast"}
    assert (endpoint["gpuCount"], endpoint["workersMin"], endpoint["workersMax"]) == (2, 1, 3)
    assert (endpoint["idleTimeout"], endpoint["executionTimeoutMs"]) == (30, 120_000)
    # GET never shows them.
    shown = customer(plaintext).get("/v1/deployments/my-comfy-workflow")
    assert b"hf_secret_value_123" not in shown.content
    assert shown.json()["envNames"] == ["HF_TOKEN", "MODE"]


def test_a_webhook_url_gives_its_whsec_secret_once(owner_key, gpu_simulator):
    _org, plaintext = owner_key
    body = {**CREATE, "webhookUrl": "http://127.0.0.1:9/hook"}

    response = customer(plaintext).post("/v1/deployments", body, format="json")

    assert response.status_code == 201, response.content
    secret = response.json()["webhookSecret"]
    assert secret.startswith("whsec_")
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"))) <= 32
    deployment = Deployment.objects.get(slug="my-comfy-workflow")
    assert secret not in deployment.webhook_secret_encrypted
    again = customer(plaintext).get("/v1/deployments/my-comfy-workflow")
    assert "webhookSecret" not in again.json()
    assert secret.encode() not in again.content
    listed = customer(plaintext).get("/v1/deployments")
    assert secret.encode() not in listed.content


def test_a_webhook_url_on_a_private_address_is_refused_without_the_dev_switch(
    owner_key, gpu_simulator, settings
):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    _org, plaintext = owner_key
    for hook in ("http://127.0.0.1:9/hook", "https://127.0.0.1/hook", "https://10.0.0.1/x"):
        response = customer(plaintext).post(
            "/v1/deployments", {**CREATE, "webhookUrl": hook}, format="json"
        )
        error = envelope(response, 400, "validation_error")
        assert "webhookUrl" in error["fields"]
    assert not Deployment.objects.exists()


def test_slug_taken_is_a_409_within_the_tenant_only(owner_key, gpu_simulator):
    org, plaintext = owner_key
    assert customer(plaintext).post("/v1/deployments", CREATE, format="json").status_code == 201

    again = customer(plaintext).post("/v1/deployments", CREATE, format="json")

    envelope(again, 409, "slug_taken")
    assert Deployment.objects.filter(organization=org).count() == 1
    other = UserFactory()
    _key, other_plaintext = key_make(org=personal(other), actor=other)
    elsewhere = customer(other_plaintext).post("/v1/deployments", CREATE, format="json")
    assert elsewhere.status_code == 201


BAD = [
    ({"gpuTypes": "ADA_48_PRO,NOPE_99"}, "gpuTypes"),
    ({"gpuTypes": ""}, "gpuTypes"),
    ({"gpuTypes": "ADA_24,ADA_48_PRO,AMPERE_80,HOPPER_141"}, "gpuTypes"),
    ({"gpuTypes": "ADA_24,ADA_24"}, "gpuTypes"),
    ({"gpuTypes": 5}, "gpuTypes"),
    ({"gpuTypes": [1, 2]}, "gpuTypes"),
    ({"minWorkers": 3, "maxWorkers": 2}, "minWorkers"),
    ({"maxWorkers": 0}, "maxWorkers"),
    ({"maxWorkers": 10_000}, "maxWorkers"),
    ({"gpuCount": 0}, "gpuCount"),
    ({"gpuCount": 9}, "gpuCount"),
    ({"gpuCount": "two"}, "gpuCount"),
    ({"gpuCount": 10**40}, "gpuCount"),
    ({"idleTimeoutSeconds": 0}, "idleTimeoutSeconds"),
    ({"executionTimeoutSeconds": 10**12}, "executionTimeoutSeconds"),
    ({"slug": "Has Spaces"}, "slug"),
    ({"slug": "-leading"}, "slug"),
    ({"slug": "a" * 65}, "slug"),
    ({"slug": "nul\x00byte"}, "slug"),
    ({"name": "nul\x00byte"}, "name"),
    ({"dockerImage": "UPPER/Case"}, "dockerImage"),
    ({"dockerImage": "image with spaces"}, "dockerImage"),
    ({"dockerImage": ["a"]}, "dockerImage"),
    ({"env": {"1BAD": "x"}}, "env"),
    ({"env": {"GOOD": "x\x00y"}}, "env"),
    ({"env": {"GOOD": 5}}, "env"),
    ({"env": ["A=b"]}, "env"),
    ({"env": {f"V{i}": "x" for i in range(51)}}, "env"),
    ({"env": {f"V{i}": "x" * 4000 for i in range(5)}}, "env"),
    ({"env": {"BIG": "x" * 5000}}, "env"),
    ({"webhookUrl": "ftp://example.com/x"}, "webhookUrl"),
    ({"webhookUrl": "not a url"}, "webhookUrl"),
    ({"surprise": 1}, "surprise"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[repr(c)[:60] for c, _f in BAD])
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    change, field, owner_key, gpu_simulator
):
    _org, plaintext = owner_key
    events = AuditEvent.objects.count()

    response = customer(plaintext).post("/v1/deployments", {**CREATE, **change}, format="json")

    error = envelope(response, 400, "validation_error")
    assert field in error["fields"], error
    assert not Deployment.objects.exists()
    assert AuditEvent.objects.count() == events
    assert gpu_simulator.state()["endpoints"] == [] and gpu_simulator.state()["templates"] == []


@pytest.mark.parametrize(
    "raw",
    [b"[]", b'"text"', b"{", b'{"slug": ' + b"[" * 200 + b"]" * 200 + b"}", b"\xff\xfe"],
    ids=["list", "string", "truncated", "deep", "not-utf8"],
)
def test_malformed_bodies_are_400_in_the_envelope(raw, owner_key, gpu_simulator):
    _org, plaintext = owner_key
    response = customer(plaintext).post("/v1/deployments", raw, content_type="application/json")
    assert 400 <= response.status_code < 500
    envelope(response, response.status_code)
    assert not Deployment.objects.exists()


def test_an_oversized_body_is_refused(owner_key, gpu_simulator):
    _org, plaintext = owner_key
    body = json.dumps({**CREATE, "env": {"X": "y" * 200_000}})
    response = customer(plaintext).post("/v1/deployments", body, content_type="application/json")
    envelope(response, 413)
    assert not Deployment.objects.exists()


def test_no_key_is_a_401(db):
    envelope(APIClient().get("/v1/deployments"), 401)
    envelope(APIClient().post("/v1/deployments", CREATE, format="json"), 401)
    envelope(customer("ck_not_a_real_key").get("/v1/deployments"), 401)


# --- read, update, delete -------------------------------------------------------------------


def _create(plaintext: str, **extra) -> dict:
    response = customer(plaintext).post("/v1/deployments", {**CREATE, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_list_and_get(owner_key, gpu_simulator):
    _org, plaintext = owner_key
    _create(plaintext)
    _create(plaintext, slug="second", gpuTypes="ADA_24")

    listed = customer(plaintext).get("/v1/deployments").json()["deployments"]

    assert {d["slug"] for d in listed} == {"my-comfy-workflow", "second"}
    one = customer(plaintext).get("/v1/deployments/second").json()
    assert one["gpuTypes"] == ["ADA_24"]
    envelope(customer(plaintext).get("/v1/deployments/nope"), 404, "not_found")


def test_patch_changes_only_what_it_names_and_updates_the_provider(owner_key, gpu_simulator):
    _org, plaintext = owner_key
    created = _create(plaintext, env={"HF_TOKEN": "one"})
    endpoint = Deployment.objects.get(slug="my-comfy-workflow").provider_endpoint_id

    response = customer(plaintext).patch(
        "/v1/deployments/my-comfy-workflow",
        {"maxWorkers": 4, "gpuTypes": ["AMPERE_80"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["maxWorkers"] == 4 and body["gpuTypes"] == ["AMPERE_80"]
    assert body["name"] == created["name"] and body["envNames"] == ["HF_TOKEN"]
    at_provider = endpoint_with_template(gpu_simulator, endpoint)
    assert at_provider["workersMax"] == 4
    assert at_provider["gpuTypeIds"] == [GpuType.objects.get(code="AMPERE_80").provider_gpu_id]
    assert at_provider["template"]["env"] == {"HF_TOKEN": "one"}  # kept
    event = AuditEvent.objects.filter(action="deployment.updated").get()
    assert event.before == {"gpu_types": ["ADA_48_PRO", "AMPERE_80"], "max_workers": 1}
    assert event.after == {"gpu_types": ["AMPERE_80"], "max_workers": 4}
    assert not Deployment.objects.get(slug="my-comfy-workflow").provider_sync_pending


def test_patch_is_checked_against_the_stored_settings(owner_key, gpu_simulator):
    _org, plaintext = owner_key
    _create(plaintext, minWorkers=1, maxWorkers=2)
    before = Deployment.objects.get()

    bad = customer(plaintext).patch(
        "/v1/deployments/my-comfy-workflow", {"minWorkers": 3}, format="json"
    )
    envelope(bad, 400, "validation_error")
    unknown = customer(plaintext).patch(
        "/v1/deployments/my-comfy-workflow", {"slug": "renamed"}, format="json"
    )
    envelope(unknown, 400, "validation_error")
    after = Deployment.objects.get()
    assert (after.min_workers, after.max_workers, after.slug) == (1, 2, "my-comfy-workflow")
    assert after.updated_at == before.updated_at


def test_patch_adding_a_webhook_url_answers_the_new_secret_once(owner_key, gpu_simulator):
    _org, plaintext = owner_key
    _create(plaintext)
    response = customer(plaintext).patch(
        "/v1/deployments/my-comfy-workflow",
        {"webhookUrl": "http://127.0.0.1:9/hook"},
        format="json",
    )
    assert response.json()["webhookSecret"].startswith("whsec_")
    again = customer(plaintext).patch(
        "/v1/deployments/my-comfy-workflow", {"name": "Renamed"}, format="json"
    )
    assert "webhookSecret" not in again.json()


def test_delete_removes_the_endpoint_hides_the_row_and_frees_the_slug(owner_key, gpu_simulator):
    _org, plaintext = owner_key
    _create(plaintext)
    deployment = Deployment.objects.get()

    response = customer(plaintext).delete("/v1/deployments/my-comfy-workflow")

    assert response.status_code == 200
    assert response.json()["deleted"] is True
    state = gpu_simulator.state()
    assert state["endpoints"] == [] and state["templates"] == []  # its template went too
    deployment.refresh_from_db()
    assert deployment.status == "deleting" and deployment.deleted_at is not None
    envelope(customer(plaintext).get("/v1/deployments/my-comfy-workflow"), 404)
    assert customer(plaintext).get("/v1/deployments").json()["deployments"] == []
    assert AuditEvent.objects.filter(action="deployment.deleted").count() == 1
    _create(plaintext)  # the slug is free again
    assert Deployment.objects.filter(slug="my-comfy-workflow").count() == 2


def test_a_delete_the_provider_refuses_stays_deleting_until_the_refresh(owner_key, gpu_simulator):
    from infra.services import deployments_refresh  # noqa: PLC0415 - test-local import

    _org, plaintext = owner_key
    _create(plaintext)
    gpu_simulator.add_fault("error", status=503, count=100)  # the provider is down

    response = customer(plaintext).delete("/v1/deployments/my-comfy-workflow")

    assert response.status_code == 200 and response.json()["deleted"] is False
    assert customer(plaintext).get("/v1/deployments/my-comfy-workflow").json()["status"] == (
        "deleting"
    )
    envelope(
        customer(plaintext).patch(
            "/v1/deployments/my-comfy-workflow", {"name": "x"}, format="json"
        ),
        409,
        "deployment_deleting",
    )
    assert len(endpoint_ids(gpu_simulator)) == 1
    gpu_simulator.clear_faults()
    deployments_refresh()
    assert endpoint_ids(gpu_simulator) == set()
    envelope(customer(plaintext).get("/v1/deployments/my-comfy-workflow"), 404)


def test_a_delete_of_an_endpoint_the_provider_no_longer_knows_succeeds(owner_key, gpu_simulator):
    from infra.providers import get_provider  # noqa: PLC0415 - test-local import

    _org, plaintext = owner_key
    _create(plaintext)
    deployment = Deployment.objects.get()
    get_provider().delete_endpoint(deployment.provider_endpoint_id)  # gone behind our back
    assert endpoint_ids(gpu_simulator) == set()

    response = customer(plaintext).delete("/v1/deployments/my-comfy-workflow")

    assert response.status_code == 200 and response.json()["deleted"] is True
    deployment.refresh_from_db()
    assert deployment.deleted_at is not None and deployment.status_detail == ""


def test_a_404_from_the_provider_midway_through_a_delete_counts_as_deleted(
    owner_key, gpu_simulator
):
    _org, plaintext = owner_key
    _create(plaintext)
    deployment = Deployment.objects.get()
    # The endpoint is found, then gone when it is scaled down: the adapter's ProviderError
    # carries status 404, which the service takes as "already deleted".
    gpu_simulator.add_fault("error", status=404, path="/v1/endpoints", method="PATCH")

    response = customer(plaintext).delete("/v1/deployments/my-comfy-workflow")

    assert response.status_code == 200 and response.json()["deleted"] is True
    assert gpu_simulator.faults() == []  # the 404 was answered
    deployment.refresh_from_db()
    assert deployment.deleted_at is not None and deployment.status_detail == ""
    envelope(customer(plaintext).get("/v1/deployments/my-comfy-workflow"), 404)


# --- provider failure at create ---------------------------------------------------------------


def test_a_provider_down_at_create_keeps_the_deployment_and_retries(owner_key, gpu_simulator):
    from infra.services import deployments_refresh  # noqa: PLC0415 - test-local import

    _org, plaintext = owner_key
    gpu_simulator.add_fault("error", status=502, path="/v1/")

    response = customer(plaintext).post("/v1/deployments", CREATE, format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "deploying"
    assert "502" in response.json()["statusDetail"]
    assert "retrying" in response.json()["statusDetail"]
    assert Deployment.objects.get().provider_endpoint_id == ""
    assert gpu_simulator.state()["templates"] == []
    deployments_refresh()
    deployment = Deployment.objects.get()
    assert endpoint_ids(gpu_simulator) == {deployment.provider_endpoint_id}
    assert deployment.status_detail == ""


def test_a_provider_refusing_the_endpoint_marks_it_failed_with_the_reason(owner_key, gpu_simulator):
    _org, plaintext = owner_key
    gpu_simulator.add_fault("error", status=400, path="/v1/endpoints", method="POST")

    response = customer(plaintext).post("/v1/deployments", CREATE, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "failed"
    assert "refused by the provider" in body["statusDetail"] and "400" in body["statusDetail"]
    # The template made for it was removed again: nothing is left at the provider.
    assert gpu_simulator.state()["endpoints"] == [] and gpu_simulator.state()["templates"] == []


# --- roles and tenants -------------------------------------------------------------------------


def key_for_role(role: str):
    """A key of a team, created by a member who holds ``role`` now (billing and viewer
    members cannot create keys: a developer creates it and is then moved to the role)."""
    owner = UserFactory()
    org = team(owner)
    member = owner if role == Role.OWNER else join(org, Role.DEVELOPER)
    _key, plaintext = key_make(org=org, actor=member, name=f"k-{role}", limit_credits=100)
    if role not in (Role.OWNER, Role.DEVELOPER):
        membership = Membership.objects.get(organization=org, user=member)
        member_set_role(membership=membership, actor=owner, role=role)
    return org, owner, plaintext


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_a_key_acts_with_its_creators_role(role, gpu_simulator):
    _org, _owner, plaintext = key_for_role(role)
    may_view = role in ("owner", "admin", "developer", "viewer")
    may_manage = role in ("owner", "admin", "developer")
    client = customer(plaintext)

    listed = client.get("/v1/deployments")
    created = client.post("/v1/deployments", CREATE, format="json")

    assert listed.status_code == (200 if may_view else 403)
    if may_manage:
        assert created.status_code == 201
        assert (
            client.patch(
                "/v1/deployments/my-comfy-workflow", {"name": "x"}, format="json"
            ).status_code
            == 200
        )
        assert client.delete("/v1/deployments/my-comfy-workflow").status_code == 200
    else:
        envelope(created, 403, "permission_denied")
        assert not Deployment.objects.exists()


def test_a_key_whose_creator_left_manages_nothing(gpu_simulator):
    owner = UserFactory()
    org = team(owner)
    member = join(org, Role.DEVELOPER)
    _key, plaintext = key_make(org=org, actor=member, name="left-behind", limit_credits=100)
    Membership.objects.filter(organization=org, user=member).delete()

    envelope(customer(plaintext).get("/v1/deployments"), 403)


def test_another_tenants_deployment_is_a_404_everywhere(owner_key, gpu_simulator):
    _org, plaintext = owner_key
    _create(plaintext)
    other = UserFactory()
    _key, other_plaintext = key_make(org=personal(other), actor=other)
    client = customer(other_plaintext)

    envelope(client.get("/v1/deployments/my-comfy-workflow"), 404)
    envelope(client.patch("/v1/deployments/my-comfy-workflow", {"name": "x"}, format="json"), 404)
    envelope(client.delete("/v1/deployments/my-comfy-workflow"), 404)
    assert client.get("/v1/deployments").json()["deployments"] == []
    assert Deployment.objects.get().name == "My Comfy"


# --- /api/deployments (session) ------------------------------------------------------------------


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_session_api_follows_the_role_table(role, gpu_simulator):
    owner = UserFactory()
    org = team(owner)
    actor = owner if role == "owner" else join(org, role)
    client = APIClient()
    client.force_login(actor)
    client.post("/context/switch", {"organization": org.public_id})

    listed = client.get("/api/deployments")
    created = client.post("/api/deployments", CREATE, format="json")

    may_view = role in ("owner", "admin", "developer", "viewer")
    may_manage = role in ("owner", "admin", "developer")
    assert listed.status_code == (200 if may_view else 403)
    assert created.status_code == (201 if may_manage else 403), created.content
    if may_manage:
        deployment = Deployment.objects.get()
        assert deployment.organization == org and deployment.created_by == actor
        event = AuditEvent.objects.get(action="deployment.created")
        assert event.organization == org and event.actor == actor
        assert event.after["env_names"] == [] and event.after["gpu_types"] == [
            "ADA_48_PRO",
            "AMPERE_80",
        ]
        assert (
            client.patch(
                "/api/deployments/my-comfy-workflow", {"maxWorkers": 2}, format="json"
            ).status_code
            == 200
        )
        assert client.delete("/api/deployments/my-comfy-workflow").status_code == 200
    else:
        assert not Deployment.objects.exists()


def test_session_api_unknown_field_and_anonymous(user, gpu_simulator):
    client = APIClient()
    anonymous = client.get("/api/deployments")
    assert anonymous.status_code in (401, 403)
    envelope(anonymous, anonymous.status_code)
    client.force_login(user)
    error = envelope(
        client.post("/api/deployments", {**CREATE, "gpu_types": "ADA_24"}, format="json"), 400
    )
    assert "gpu_types" in error["fields"]


def test_a_gpu_type_turned_off_later_does_not_block_other_changes(owner_key, gpu_simulator):
    _org, plaintext = owner_key
    _create(plaintext)
    GpuType.objects.filter(code="AMPERE_80").update(active=False)
    client = customer(plaintext)

    renamed = client.patch("/v1/deployments/my-comfy-workflow", {"name": "New"}, format="json")

    assert renamed.status_code == 200, renamed.content
    assert renamed.json()["gpuTypes"] == ["ADA_48_PRO", "AMPERE_80"]
    again = client.patch(
        "/v1/deployments/my-comfy-workflow", {"gpuTypes": "AMPERE_80"}, format="json"
    )
    envelope(again, 400, "validation_error")
