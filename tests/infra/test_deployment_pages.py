"""The deployment pages against the database: list, new (prices and the hold from the
catalog), detail (status, live workers and queue from the simulator, spend this month),
edit, delete, roles."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.templatetags.money import credits
from infra import providers, services
from infra.models import Deployment, GpuJob, GpuType
from orgs.models import AuditEvent
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import join, personal, team
from tests.gpusim import endpoint_ids

pytestmark = pytest.mark.django_db

FORM = {
    "slug": "comfy",
    "name": "Comfy",
    "docker_image": "runpod/worker-comfyui:5.1.0-base",
    "gpu_type_1": "ADA_48_PRO",
    "gpu_type_2": "AMPERE_80",
    "gpu_type_3": "",
    "gpu_count": "2",
    "min_workers": "0",
    "max_workers": "2",
    "idle_timeout_seconds": "5",
    "execution_timeout_seconds": "300",
    "env": "HF_TOKEN=hf_page_secret\nMODE=fast",
    "webhook_url": "",
}


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def make(user, slug="comfy", **kw) -> Deployment:
    return services.deployment_create(
        organization=personal(user),
        actor=user,
        slug=slug,
        docker_image="runpod/worker-comfyui:5.1.0-base",
        gpu_types=kw.pop("gpu_types", "ADA_24"),
        **kw,
    ).deployment


def test_empty_list_says_what_to_do(browser):
    page = browser.get("/infra/deployments")
    assert page.status_code == 200
    assert "No deployments yet." in text(page)
    assert 'href="/infra/deployments/new"' in text(page)


def test_list_shows_each_deployment_from_the_db(browser, user, gpu_simulator):
    make(user, slug="alpha", gpu_types="HOPPER_141")
    make(user, slug="beta")
    gone = make(user, slug="gamma")
    services.deployment_delete(deployment=gone, actor=user)

    page = text(browser.get("/infra/deployments"))

    for d in Deployment.objects.filter(deleted_at__isnull=True):
        assert f'data-slug="{d.slug}"' in page
        assert d.docker_image in page
    assert 'data-slug="gamma"' not in page
    assert "HOPPER_141" in page


def test_new_page_shows_the_catalog_prices_and_the_hold(browser):
    page = text(browser.get("/infra/deployments/new"))
    for gpu in GpuType.objects.filter(active=True):
        assert f'data-code="{gpu.code}">{credits(gpu.microcredits_per_second, 6)}<' in page
    # The default preview: the first tier, 1 GPU, 600 s.
    first = GpuType.objects.filter(active=True).first()
    assert f"Each job holds {credits(600 * first.microcredits_per_second)} credits" in page


def test_price_preview_follows_the_fields(browser):
    rates = dict(GpuType.objects.values_list("code", "microcredits_per_second"))

    answer = browser.get("/infra/deployments/new/price", FORM, HTTP_HX_REQUEST="true")

    body = text(answer)
    top = max(rates["ADA_48_PRO"], rates["AMPERE_80"])
    assert f"Up to {credits(top * 2, 6)} credits per second" in body
    assert f"Each job holds {credits(top * 2 * 300)} credits" in body
    assert "<html" not in body  # the partial only
    nonsense = browser.get("/infra/deployments/new/price", {**FORM, "gpu_count": "x"})
    assert "Choose a GPU tier" in text(nonsense)


def test_create_through_the_form(browser, user, gpu_simulator):
    response = browser.post("/infra/deployments/new", FORM)

    assert response.status_code == 302
    assert response["Location"] == "/infra/deployments/comfy"
    deployment = Deployment.objects.get(slug="comfy")
    assert deployment.organization == personal(user)
    assert deployment.gpu_types == ["ADA_48_PRO", "AMPERE_80"]
    assert (deployment.gpu_count, deployment.execution_timeout_seconds) == (2, 300)
    assert services.deployment_env(deployment) == {"HF_TOKEN": "hf_page_secret", "MODE": "fast"}
    assert endpoint_ids(gpu_simulator) == {deployment.provider_endpoint_id}
    detail = text(browser.get(response["Location"]))
    assert "hf_page_secret" not in detail
    assert "<code>HF_TOKEN</code>" in detail


def test_create_with_a_webhook_shows_the_secret_once(browser, gpu_simulator):
    response = browser.post(
        "/infra/deployments/new", {**FORM, "webhook_url": "http://127.0.0.1:9/hook"}
    )

    assert response.status_code == 201
    secret = services.deployment_webhook_secret(Deployment.objects.get())
    assert secret in text(response)
    assert secret not in text(browser.get("/infra/deployments/comfy"))


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"min_workers": "3", "max_workers": "2"}, "min_workers", "cannot be more than"),
        ({"docker_image": "Not An Image"}, "docker_image", "Docker image"),
        ({"env": "NOEQUALS"}, "env", "NAME=value"),
        ({"env": "1BAD=x"}, "env", "not a valid variable name"),
        ({"slug": "Bad Slug"}, "slug", "lower-case"),
        ({"gpu_type_1": "NOPE"}, "gpu_type_1", "valid choice"),
        ({"gpu_type_2": "ADA_48_PRO"}, "gpu_type_1", "listed twice"),
    ],
)
def test_form_errors_are_shown_on_their_field(browser, gpu_simulator, change, field, message):
    response = browser.post("/infra/deployments/new", {**FORM, **change})

    assert response.status_code == 400
    page = text(response)
    assert f'id="id_{field}_errors"' in page
    assert message in page
    assert not Deployment.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"name": "nul\x00byte"},
        {"env": "A=b\x00c"},
        {"max_workers": "1" + "0" * 40},
        {"min_workers": "-1"},
        {"execution_timeout_seconds": "9" * 30},
        {"webhook_url": "https://10.0.0.1/x"},
    ],
)
def test_hostile_form_input_is_a_400_and_changes_nothing(browser, gpu_simulator, settings, change):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    response = browser.post("/infra/deployments/new", {**FORM, **change})

    assert response.status_code == 400
    if not any("\x00" in v for v in change.values()):
        assert "field__errors" in text(response)  # NUL: the site-wide guard answers first
    assert not Deployment.objects.exists()
    assert gpu_simulator.state()["endpoints"] == []


def test_a_taken_slug_is_a_field_error(browser, user, gpu_simulator):
    make(user)
    page = text(browser.post("/infra/deployments/new", FORM))
    assert 'id="id_slug_errors"' in page and "already exists" in page
    assert Deployment.objects.count() == 1


def test_detail_shows_status_workers_and_this_months_spend(browser, user, gpu_simulator):
    gpu_simulator.clock.freeze()
    deployment = make(user, gpu_types="ADA_48_PRO,AMPERE_80", max_workers=3)
    gpu_simulator.advance(gpu_simulator.init_seconds)
    # At the provider: one job running on one of the three workers, seven waiting.
    provider = providers.get_provider()
    endpoint = deployment.provider_endpoint_id
    provider.run(endpoint, {"input": {"simulate": {"queue_seconds": 0, "seconds": 3600}}})
    for _ in range(7):
        provider.run(endpoint, {"input": {"simulate": {"queue_seconds": 3600}}})
    gpu_simulator.advance(1)
    now = timezone.now()
    org = deployment.organization
    for charged, finished in [
        (1_234_567, now),
        (2_000_000, now),
        (9_999_999_999, now.replace(day=1) - timedelta(days=2)),  # last month
        (None, None),  # still running
    ]:
        GpuJob.objects.create(
            organization=org,
            deployment=deployment,
            charged_microcredits=charged,
            finished_at=finished,
            status="succeeded" if charged else "running",
            timeout_at=now + timedelta(minutes=10),
        )

    page = text(browser.get("/infra/deployments/comfy"))

    assert 'data-testid="status"><span class="badge badge--warning">Deploying' in page
    assert '1 <span class="stat__unit">running</span> · 2 <span' in page
    assert '7 <span class="stat__unit">waiting</span>' in page
    assert f'{credits(3_234_567)} <span class="stat__unit">credits</span>' in page
    hold = 600 * max(
        GpuType.objects.filter(code__in=["ADA_48_PRO", "AMPERE_80"]).values_list(
            "microcredits_per_second", flat=True
        )
    )
    assert f"{credits(hold)} credits (execution timeout 600 s)" in page
    assert 'aria-current="page">Overview' in page


def test_detail_degrades_when_the_provider_is_down(browser, user, gpu_simulator):
    make(user)
    gpu_simulator.add_fault("error", status=503, path="/v2/")

    page = browser.get("/infra/deployments/comfy")

    assert page.status_code == 200
    assert "Unavailable" in text(page) and "did not answer just now" in text(page)
    assert gpu_simulator.faults() == []  # the page asked, once


def test_edit_and_delete(browser, user, gpu_simulator):
    deployment = make(user, env={"KEEP": "me"})
    form = {**FORM, "max_workers": "4", "env": ""}
    form.pop("slug")

    response = browser.post("/infra/deployments/comfy/edit", form)

    assert response.status_code == 302
    deployment.refresh_from_db()
    assert deployment.max_workers == 4
    assert services.deployment_env(deployment) == {"KEEP": "me"}  # empty keeps them
    assert AuditEvent.objects.filter(action="deployment.updated").count() == 1

    wrong = browser.post("/infra/deployments/comfy/delete", {"confirm": "nope"})
    assert wrong.status_code == 302
    assert Deployment.objects.get().deleted_at is None
    gone = browser.post("/infra/deployments/comfy/delete", {"confirm": "comfy"})
    assert gone.status_code == 302
    assert Deployment.objects.get().deleted_at is not None
    assert browser.get("/infra/deployments/comfy").status_code == 404


@pytest.mark.parametrize("role", ["owner", "admin", "developer", "billing", "viewer"])
def test_pages_by_role(role, gpu_simulator):
    owner = UserFactory()
    org = team(owner)
    services.deployment_create(
        organization=org,
        actor=owner,
        slug="comfy",
        docker_image="runpod/worker-comfyui:5.1.0-base",
        gpu_types="ADA_24",
    )
    actor = owner if role == "owner" else join(org, role)
    client = Client()
    client.force_login(actor)
    client.post("/context/switch", {"organization": org.public_id})
    may_view = role != "billing"
    may_manage = role in ("owner", "admin", "developer")

    assert client.get("/infra/deployments").status_code == (200 if may_view else 403)
    detail = client.get("/infra/deployments/comfy")
    assert detail.status_code == (200 if may_view else 403)
    assert client.get("/infra/deployments/new").status_code == (200 if may_manage else 403)
    edit = client.post("/infra/deployments/comfy/edit", {"name": "x"})
    assert edit.status_code == (400 if may_manage else 403)
    if may_view:
        assert ("Delete deployment" in text(detail)) == may_manage
        assert ('action="/infra/deployments/comfy/edit"' in text(detail)) == may_manage
    nav = text(client.get("/usage"))
    assert ('href="/infra/deployments"' in nav) == may_view


def test_another_tenants_deployment_is_a_404(browser, gpu_simulator):
    other = UserFactory()
    make(other)
    assert browser.get("/infra/deployments/comfy").status_code == 404
    assert browser.post("/infra/deployments/comfy/delete", {"confirm": "comfy"}).status_code == 404
    assert Deployment.objects.get().deleted_at is None
