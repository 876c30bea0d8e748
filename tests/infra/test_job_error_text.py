"""A job's error as the pages show it: the sentences the console stores in English (a
timeout, a cancellation, an expired hold, a refusal by the provider) read in the reader's
language; the provider's or the worker's own words are shown as they are. The API keeps
the stored English."""

import pytest
from django.utils import translation
from django.utils.html import escape

from infra import models
from infra.models import GpuJob

from .gpuscene import finished_job

pytestmark = pytest.mark.django_db


def _job(error: str) -> GpuJob:
    return GpuJob(error=error)


@pytest.mark.parametrize("stored", list(models.JOB_ERRORS))
def test_a_sentence_the_console_wrote_reads_in_each_language(stored):
    with translation.override("en"):
        assert _job(stored).error_text() == stored
    with translation.override("ar"):
        arabic = _job(stored).error_text()
    assert arabic != stored and any("\u0600" <= c <= "\u06ff" for c in arabic)


def test_a_refusal_keeps_the_providers_words():
    stored = f"{models.PROVIDER_REFUSED}HTTP 400: image not found"
    with translation.override("en"):
        assert _job(stored).error_text() == stored
    with translation.override("ar"):
        arabic = _job(stored).error_text()
    assert "HTTP 400: image not found" in arabic and not arabic.startswith("The provider")


def test_the_workers_own_error_is_shown_as_it_is():
    with translation.override("ar"):
        assert _job("CUDA out of memory").error_text() == "CUDA out of memory"


def test_the_job_page_and_the_api_of_a_cancelled_job(scene, client):
    job = finished_job(scene.deployment, status="canceled", error=models.JOB_CANCELLED_EARLY)
    client.force_login(scene.user)
    url = f"/infra/jobs/{job.public_id}/status"
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert escape(models.JOB_CANCELLED_EARLY) in english
    scene.user.language = "ar"
    scene.user.save(update_fields=["language"])
    arabic = client.get(url).content.decode()
    with translation.override("ar"):
        assert escape(str(models.JOB_ERRORS[models.JOB_CANCELLED_EARLY])) in arabic
    assert models.JOB_CANCELLED_EARLY not in arabic
    answer = client.get(f"/v1/gpu/jobs/{job.public_id}", **scene.auth())
    assert answer.json()["error"] == models.JOB_CANCELLED_EARLY  # the API: the stored English
