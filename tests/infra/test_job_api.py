"""``/v1/gpu/run``, ``/v1/gpu/jobs/{id}`` and cancel: the four credential forms, the role
table, tenant isolation, and bad input answered in the envelope with nothing queued (at the
simulator either: ``sim``, tests/infra/gpuscene.py)."""

import json

import pytest
from django.db.models import Sum

from billing.models import Hold
from infra.models import Deployment, GpuJob
from orgs.models import Membership
from orgs.permissions import Role
from tests.apikeys.factories import assert_envelope, join, key_make, team

from .gpuscene import make_scene, provider_jobs

pytestmark = pytest.mark.django_db


def _run(client, slug, body, headers, path_suffix=""):
    return client.post(
        f"/v1/gpu/run/{slug}{path_suffix}",
        body if isinstance(body, str | bytes) else json.dumps(body),
        content_type="application/json",
        **headers,
    )


def _nothing_queued(sim, org) -> None:
    assert not GpuJob.objects.filter(organization=org).exists()
    assert not Hold.objects.filter(wallet__organization=org).exists()
    assert provider_jobs(sim) == []


@pytest.mark.parametrize("form", ["bearer", "x-api-key", "x-goog-api-key", "query"])
def test_every_credential_form_runs_and_polls(client, scene, sim, form):
    headers = {
        "bearer": {"HTTP_AUTHORIZATION": f"Bearer {scene.secret}"},
        "x-api-key": {"HTTP_X_API_KEY": scene.secret},
        "x-goog-api-key": {"HTTP_X_GOOG_API_KEY": scene.secret},
        "query": {},
    }[form]
    query = f"?key={scene.secret}" if form == "query" else ""
    response = _run(client, scene.deployment.slug, {"input": {"a": 1}}, headers, query)
    assert response.status_code == 200, response.content
    job_id = response.json()["job_id"]
    polled = client.get(f"/v1/gpu/jobs/{job_id}{query}", **headers)
    assert polled.status_code == 200 and polled.json()["job_id"] == job_id


def test_no_or_a_bad_key_is_a_401(client, scene, sim):
    assert_envelope(client.post(f"/v1/gpu/run/{scene.deployment.slug}", {}), 401)
    bad = {"HTTP_AUTHORIZATION": "Bearer ck_nope"}
    assert_envelope(_run(client, scene.deployment.slug, {"input": {}}, bad), 401)
    _nothing_queued(sim, scene.org)


def _member_key(org, role: str):
    """A key created by a developer who then got ``role`` (a key acts with its creator's
    role in its tenant)."""
    user = join(org, Role.DEVELOPER)
    _key, secret = key_make(org=org, actor=user, name=f"k-{role}", limit_credits=1000)
    Membership.objects.filter(organization=org, user=user).update(role=role)
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


@pytest.mark.parametrize(
    ("role", "may_run", "may_view"),
    [
        (Role.OWNER, True, True),
        (Role.ADMIN, True, True),
        (Role.DEVELOPER, True, True),
        (Role.BILLING, False, False),
        (Role.VIEWER, False, True),
    ],
)
def test_the_role_table_decides(client, sim, role, may_run, may_view):
    owner_scene = make_scene(sim, org=None)
    org = team(owner_scene.user, name="Acme GPU")
    acme = make_scene(sim, org=org, user=owner_scene.user)
    headers = acme.auth() if role == Role.OWNER else _member_key(org, role)
    job = _run(
        client, acme.deployment.slug, {"input": {"simulate": {"queue_seconds": 60}}}, acme.auth()
    )
    job_id = job.json()["job_id"]

    ran = _run(client, acme.deployment.slug, {"input": {}}, headers)
    polled = client.get(f"/v1/gpu/jobs/{job_id}", **headers)
    cancelled = client.post(f"/v1/gpu/jobs/{job_id}/cancel", **headers)
    if may_run:
        assert ran.status_code == 200
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "canceled"
    else:
        assert_envelope(ran, 403, "permission_denied")
        assert_envelope(cancelled, 403, "permission_denied")
        assert GpuJob.objects.get(public_id=job_id).status == "queued"
    if may_view:
        assert polled.status_code == 200
    else:
        assert_envelope(polled, 403, "permission_denied")


def test_another_tenants_jobs_and_deployments_are_404(client, scene, sim):
    other = make_scene(sim)
    job_id = _run(client, other.deployment.slug, {"input": {}}, other.auth()).json()["job_id"]
    assert_envelope(client.get(f"/v1/gpu/jobs/{job_id}", **scene.auth()), 404, "not_found")
    assert_envelope(client.post(f"/v1/gpu/jobs/{job_id}/cancel", **scene.auth()), 404)
    assert_envelope(_run(client, other.deployment.slug, {"input": {}}, scene.auth()), 404)
    assert GpuJob.objects.get(public_id=job_id).status == "queued"
    assert not GpuJob.objects.filter(organization=scene.org).exists()


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        ({"input": {"a": 1}, "priority": "high"}, 400, "validation_error"),
        ({}, 400, "validation_error"),
        ({"input": [1, 2]}, 400, "invalid_request"),
        ({"input": "text"}, 400, "invalid_request"),
        ({"input": {"a": 1}, "sync": "maybe"}, 400, "validation_error"),
        ({"input": {"a": "nul\u0000byte"}}, 400, "invalid_request"),
        ({"input": {"a": "x" * 600_000}}, 413, "input_too_large"),
        ('{"input": {"a": 1}', 400, "invalid_request"),
        ('{"input": ' + "[" * 200 + "]" * 200 + "}", 400, "invalid_request"),
        ('{"input": {"a": NaN}}', 400, "invalid_request"),
        ('{"input": {"n": 1' + "0" * 5000 + "}}", 400, "invalid_request"),
    ],
)
def test_bad_input_is_refused_in_the_envelope_and_nothing_is_queued(
    client, scene, sim, body, status, error_type
):
    response = _run(client, scene.deployment.slug, body, scene.auth())
    error = assert_envelope(response, status)
    if error_type != "validation_error":
        assert error["type"] == error_type
    _nothing_queued(sim, scene.org)


def test_a_body_past_the_gpu_limit_is_a_413(client, scene, sim):
    response = _run(client, scene.deployment.slug, {"input": {"a": "x" * 1_100_000}}, scene.auth())
    assert_envelope(response, 413)
    _nothing_queued(sim, scene.org)


@pytest.mark.parametrize("status", ["deploying", "failed", "deleting"])
def test_a_deployment_that_is_not_ready_takes_no_job(client, scene, sim, status):
    Deployment.objects.filter(pk=scene.deployment.pk).update(status=status)
    response = _run(client, scene.deployment.slug, {"input": {}}, scene.auth())
    assert_envelope(response, 409, "deployment_not_ready")
    _nothing_queued(sim, scene.org)


@pytest.mark.parametrize("slug", ["nope", "x" * 300, "%00", "..%2F"])
def test_unknown_deployments_and_jobs_are_404(client, scene, sim, slug):
    assert_envelope(_run(client, slug, {"input": {}}, scene.auth()), 404)
    assert_envelope(client.get(f"/v1/gpu/jobs/{slug}", **scene.auth()), 404)
    assert_envelope(client.post(f"/v1/gpu/jobs/{slug}/cancel", **scene.auth()), 404)
    _nothing_queued(sim, scene.org)


def test_cancel_takes_no_body(client, scene, sim):
    job_id = _run(client, scene.deployment.slug, {"input": {}}, scene.auth()).json()["job_id"]
    response = client.post(
        f"/v1/gpu/jobs/{job_id}/cancel",
        {"reason": "x"},
        content_type="application/json",
        **scene.auth(),
    )
    assert_envelope(response, 400)
    assert GpuJob.objects.get(public_id=job_id).status == "queued"


def test_holds_add_up_across_jobs_and_refuse_past_the_balance(client, sim):
    # 2 credits hold two jobs of 732,000 µcr (1,464,000) but not a third (2,196,000).
    poor = make_scene(sim, credits=2)
    for _ in range(2):
        assert _run(client, poor.deployment.slug, {"input": {}}, poor.auth()).status_code == 200
    third = _run(client, poor.deployment.slug, {"input": {}}, poor.auth())
    error = assert_envelope(third, 402, "insufficient_credits")
    assert error["needed_microcredits"] == 732_000
    assert GpuJob.objects.filter(organization=poor.org).count() == 2
    held = Hold.objects.filter(wallet__organization=poor.org).aggregate(
        s=Sum("amount_microcredits")
    )
    assert held["s"] == poor.wallet.held_microcredits == 1_464_000


def test_the_poll_answers_the_reference_shape_while_running(client, scene, sim):
    job_id = _run(
        client,
        scene.deployment.slug,
        {"input": {"simulate": {"queue_seconds": 0, "seconds": 60}}},
        scene.auth(),
    ).json()["job_id"]
    body = client.get(f"/v1/gpu/jobs/{job_id}", **scene.auth()).json()
    assert body["status"] == "running"
    assert {"job_id", "status", "output", "executionMs", "creditsCharged"} <= set(body)
    assert body["output"] is None and body["creditsCharged"] is None
    assert str(body["creditsHeld"]) == "0.732"
