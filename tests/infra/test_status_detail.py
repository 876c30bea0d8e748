"""A deployment's status detail is stored as a code of hypereal_site.reasons and its
parameters and translated when shown: the page and ``/api/deployments`` say it in the
reader's language whatever language was active when it was written (the beat task's, a
person's request). The provider's own words stay as given, isolated in Arabic. Older rows
holding a sentence are converted by the data migration."""

import importlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from infra import services
from infra.models import Deployment
from tests.apikeys.factories import personal
from tests.migrating import latest, migrate

pytestmark = pytest.mark.django_db

NO_ANSWER = {
    "en": ("The provider did not answer (", "); retrying."),
    "ar": ("لم يُجب المزوّد (\u2068", "\u2069)؛ جارٍ إعادة المحاولة."),
}
OTHER = {"en": "ar", "ar": "en"}


def make(user, **kw) -> Deployment:
    return services.deployment_create(
        organization=personal(user),
        actor=user,
        slug="comfy",
        docker_image="runpod/worker-comfyui:5.1.0-base",
        gpu_types="ADA_24",
        min_workers=1,
        max_workers=1,
        **kw,
    ).deployment


def outage(user, sim, *, language: str) -> Deployment:
    """The provider stops answering while the beat task runs under ``language``."""
    deployment = make(user)
    sim.advance(sim.init_seconds)
    sim.add_fault("error", status=503, count=100)
    with translation.override(language):
        services.deployments_refresh()
    deployment.refresh_from_db()
    return deployment


@pytest.mark.parametrize("writer", ["en", "ar"])
def test_the_row_keeps_a_code_and_each_reader_gets_their_language(user, sim, writer):
    deployment = outage(user, sim, language=writer)

    assert deployment.status == "deploying"
    assert deployment.status_detail_code == "provider_no_answer"
    error = deployment.status_detail_params["error"]
    assert "503" in error
    for reader, (start, end) in NO_ANSWER.items():
        with translation.override(reader):
            assert deployment.status_detail == f"{start}{error}{end}", reader


@pytest.mark.parametrize("writer", ["en", "ar"])
def test_the_page_says_it_in_the_readers_language(user, sim, writer):
    outage(user, sim, language=writer)
    reader = OTHER[writer]
    user.language = reader
    user.save(update_fields=["language"])
    browser = Client()
    browser.force_login(user)

    page = browser.get("/infra/deployments/comfy").content.decode()

    assert 'data-code="provider_no_answer"' in page
    assert NO_ANSWER[reader][0].rstrip("(\u2068 ") in page
    assert NO_ANSWER[writer][0].rstrip("(\u2068 ") not in page


@pytest.mark.parametrize("writer", ["en", "ar"])
def test_the_api_says_it_in_the_readers_language_with_its_code(user, sim, writer):
    deployment = outage(user, sim, language=writer)
    error = deployment.status_detail_params["error"]
    client = APIClient()
    client.force_login(user)

    for reader, (start, end) in NO_ANSWER.items():
        body = client.get("/api/deployments/comfy", HTTP_ACCEPT_LANGUAGE=reader).json()
        assert body["statusDetail"] == f"{start}{error}{end}", (reader, body)
        assert body["statusDetailCode"] == "provider_no_answer"
        assert body["statusDetailParams"] == {"error": error}


def test_a_refusal_names_its_step_and_the_timeout_its_minutes(user, sim, settings):
    sim.add_fault("error", status=400, path="/v1/endpoints", method="POST")
    with translation.override("ar"):
        refused = make(user)
    assert (refused.status, refused.status_detail_code) == ("failed", "endpoint_create_refused")
    with translation.override("en"):
        assert refused.status_detail.startswith(
            "Creating the GPU endpoint was refused by the provider: "
        )

    settings.GPU_DEPLOY_TIMEOUT_SECONDS = 120
    late = services.deployment_create(
        organization=personal(user),
        actor=user,
        slug="late",
        docker_image="runpod/worker-comfyui:5.1.0-base",
        gpu_types="ADA_24",
        min_workers=1,
        max_workers=1,
    ).deployment
    Deployment.objects.filter(pk=late.pk).update(
        status_changed_at=late.status_changed_at - timedelta(seconds=121)
    )
    services.deployments_refresh()
    late.refresh_from_db()
    assert (late.status_detail_code, late.status_detail_params) == (
        "no_worker_in_time",
        {"minutes": 2},
    )
    with translation.override("ar"):
        assert late.status_detail == "لم يبدأ أي عامل خلال 2 دقيقة."
    with translation.override("en"):
        assert late.status_detail == "No worker came up within 2 minutes."


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        (
            "Creating the GPU endpoint failed (RunPod answered 503); retrying.",
            ("endpoint_create_failed", {"error": "RunPod answered 503"}),
        ),
        (
            "فشل تحديث نقطة نهاية GPU (RunPod (eu) answered 502)؛ جارٍ إعادة المحاولة.",
            ("endpoint_update_failed", {"error": "RunPod (eu) answered 502"}),
        ),
        (
            "Deleting the GPU endpoint failed (timeout); retrying.",
            ("endpoint_delete_failed", {"error": "timeout"}),
        ),
        (
            "رفض المزوّد إنشاء نقطة نهاية GPU: bad image",
            ("endpoint_create_refused", {"error": "bad image"}),
        ),
        (
            "Updating the GPU endpoint was refused by the provider: 400 bad gpu",
            ("endpoint_update_refused", {"error": "400 bad gpu"}),
        ),
        (
            "The provider refused the endpoint: 404 not found",
            ("endpoint_refused", {"error": "404 not found"}),
        ),
        ("لم يبدأ أي عامل خلال 15 دقيقة.", ("no_worker_in_time", {"minutes": 15})),
        ("No worker came up within 15 minutes.", ("no_worker_in_time", {"minutes": 15})),
        (
            "لم يُجب المزوّد (\u2068HTTP 503\u2069)؛ جارٍ إعادة المحاولة.",
            ("provider_no_answer", {"error": "HTTP 503"}),
        ),
        ("boot ok", ("legacy", {"text": "boot ok"})),
        ("", ("", {})),
    ],
)
def test_the_data_migration_recognises_the_sentences_stored_before(sentence, expected):
    migration = importlib.import_module("infra.migrations.0005_status_detail_code")
    assert migration.detail_code(sentence) == expected


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_converts_the_rows(user):
    org = personal(user)
    sentences = {
        "ar": "لم يُجب المزوّد (HTTP 503)؛ جارٍ إعادة المحاولة.",
        "en": "No worker came up within 15 minutes.",
        "odd": "Paused by support.",
        "none": "",
    }
    for slug in sentences:
        Deployment.objects.create(
            organization=org, slug=slug, name=slug, docker_image="runpod/worker-comfyui:5.1.0"
        )
    try:
        Old = migrate("infra", "0004_gpujobs_serverless_seed").get_model("infra", "Deployment")
        for slug, sentence in sentences.items():
            Old.objects.filter(slug=slug).update(status_detail=sentence)
        migrate("infra", "0005_status_detail_code")
    finally:
        latest()

    rows = {d.slug: d for d in Deployment.objects.all()}
    assert (rows["ar"].status_detail_code, rows["ar"].status_detail_params) == (
        "provider_no_answer",
        {"error": "HTTP 503"},
    )
    with translation.override("en"):
        assert rows["ar"].status_detail == "The provider did not answer (HTTP 503); retrying."
    with translation.override("ar"):
        assert rows["en"].status_detail == "لم يبدأ أي عامل خلال 15 دقيقة."
    assert rows["odd"].status_detail_code == "legacy"
    assert rows["odd"].status_detail == "Paused by support."
    assert (rows["none"].status_detail_code, rows["none"].status_detail) == ("", "")
