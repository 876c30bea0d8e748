"""The Jobs tab of a deployment (filters, keyset pages, "Run a test job"), a job's page and
its live status card, following the role table and the tenant."""

import re

import pytest
from django.utils import timezone

from billing.models import Hold
from billing.money import format_credits
from infra.models import GpuJob
from orgs.permissions import Role
from tests.apikeys.factories import join, team
from tests.site.pages import in_org

from .gpuscene import finished_job, hold_of, make_scene, provider_jobs

pytestmark = pytest.mark.django_db


def jobs_url(scene) -> str:
    return f"/infra/deployments/{scene.deployment.slug}/jobs"


def test_a_test_job_runs_from_the_page_and_its_card_refreshes_until_final(client_for, scene, sim):
    client = client_for(scene.user)
    page = client.get(jobs_url(scene))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="test-job-form"' in html
    hold = 600 * 2 * 610
    assert format_credits(hold) in html.split('data-testid="hold-per-job"')[1][:200]

    response = client.post(
        jobs_url(scene),
        {"input": '{"prompt": "hi", "simulate": {"seconds": 1}}'},
    )
    assert response.status_code == 302
    job = GpuJob.objects.get(organization=scene.org)
    assert response["Location"] == f"{jobs_url(scene)}?new={job.public_id}"
    assert job.created_by == scene.user and job.api_key is None
    assert hold_of(job).status == Hold.Status.OPEN

    shown = client.get(response["Location"]).content.decode()
    assert (
        'data-testid="new-job"' in shown and f'hx-get="/infra/jobs/{job.public_id}/status"' in shown
    )

    # The tab's figures and job table reload themselves when the card sees the job end.
    for part in ("job-stats", "job-history"):
        tag = shown.split(f'id="{part}"')[1].split(">")[0]
        assert 'hx-trigger="job-finished from:body"' in tag and f'hx-select="#{part}"' in tag

    response = client.get(f"/infra/jobs/{job.public_id}/status")
    card = response.content.decode()
    assert 'data-status="queued"' in card and "hx-get" in card
    assert "HX-Trigger" not in response.headers
    sim.advance(sim.queue_delay)
    card = client.get(f"/infra/jobs/{job.public_id}/status").content.decode()
    assert 'data-status="running"' in card and "hx-get" in card
    sim.advance(1)
    response = client.get(f"/infra/jobs/{job.public_id}/status")
    final = response.content.decode()
    assert 'data-status="succeeded"' in final
    assert response.headers["HX-Trigger"] == "job-finished"
    assert "hx-get" not in final  # final: the card stops polling
    job.refresh_from_db()
    assert job.charged_microcredits == 1000 * 2 * 150 // 1000
    assert format_credits(job.charged_microcredits, 6).rstrip("0") in final
    assert format_credits(hold, 6).rstrip("0").rstrip(".") in final


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "This is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"a": "\\u0000"}', "input: a string"),
        ("", "This field is required"),
        ('{"a": "' + "x" * 600_000 + '"}', "larger than"),
    ],
)
def test_bad_input_shows_a_field_error_and_runs_nothing(client_for, scene, sim, text, message):
    response = client_for(scene.user).post(jobs_url(scene), {"input": text})
    assert response.status_code == 200
    html = response.content.decode()
    assert "field--invalid" in html and message in html
    assert not GpuJob.objects.exists() and provider_jobs(sim) == []


def test_too_little_credit_is_shown_on_the_form(client_for, sim):
    poor = make_scene(sim, credits=0)
    html = client_for(poor.user).post(jobs_url(poor), {"input": "{}"}).content.decode()
    assert "Not enough credits" in html and not GpuJob.objects.exists()


def test_a_viewer_reads_jobs_but_cannot_run_or_cancel(client_for, sim):
    owner_scene = make_scene(sim)
    org = team(owner_scene.user, name="Acme GPU")
    acme = make_scene(sim, org=org, user=owner_scene.user)
    job = finished_job(
        acme.deployment,
        status="queued",
        settled_at=None,
        finished_at=None,
        timeout_at=timezone.now() + timezone.timedelta(hours=1),
        provider_job_id="",
    )
    viewer = join(org, Role.VIEWER)
    client = in_org(client_for(viewer), org)
    html = client.get(jobs_url(acme)).content.decode()
    assert job.public_id in html and 'data-testid="test-job-form"' not in html
    assert client.post(jobs_url(acme), {"input": "{}"}).status_code == 403
    assert client.post(f"/infra/jobs/{job.public_id}/cancel").status_code == 403
    assert client.get(f"/infra/jobs/{job.public_id}").status_code == 200
    billing = join(org, Role.BILLING)
    other = in_org(client_for(billing), org)
    assert other.get(jobs_url(acme)).status_code == 403
    assert other.get(f"/infra/jobs/{job.public_id}").status_code == 403


def test_cancel_from_the_page_refunds_a_job_that_never_reached_the_provider(client_for, scene, sim):
    sim.add_fault("error", status=503, path="/v2/")
    client = client_for(scene.user)
    client.post(jobs_url(scene), {"input": "{}"})
    job = GpuJob.objects.get(organization=scene.org)
    assert not job.provider_job_id and "503" in job.provider_error
    assert provider_jobs(sim) == []
    response = client.post(f"/infra/jobs/{job.public_id}/cancel")
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == "canceled" and job.charged_microcredits == 0
    assert hold_of(job).status == Hold.Status.RELEASED
    assert scene.wallet.held_microcredits == 0


def test_another_tenants_pages_are_404(client_for, scene, sim):
    other = make_scene(sim)
    job = finished_job(other.deployment)
    client = client_for(scene.user)
    assert client.get(jobs_url(other)).status_code == 404
    assert client.get(f"/infra/deployments/{other.deployment.slug}x/jobs").status_code == 404
    assert client.get(f"/infra/jobs/{job.public_id}").status_code == 404
    assert client.get(f"/infra/jobs/{job.public_id}/status").status_code == 404
    assert client.post(f"/infra/jobs/{job.public_id}/cancel").status_code == 404


def test_filters_and_keyset_pages(client_for, scene):
    now = timezone.now()
    for i in range(30):
        finished_job(scene.deployment, created_at=now - timezone.timedelta(minutes=i))
    failed = finished_job(
        scene.deployment, status="failed", created_at=now - timezone.timedelta(days=3)
    )
    client = client_for(scene.user)
    first = client.get(jobs_url(scene)).content.decode()
    rows = re.findall(r'data-job="([^"]+)"', first)
    assert len(rows) == 25
    older = (
        re.search(r'data-testid="jobs-older" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    )
    second = re.findall(r'data-job="([^"]+)"', client.get(jobs_url(scene) + older).content.decode())
    assert len(second) == 6 and not set(rows) & set(second)
    assert failed.public_id == second[-1]
    only_failed = client.get(jobs_url(scene) + "?status=failed").content.decode()
    assert re.findall(r'data-job="([^"]+)"', only_failed) == [failed.public_id]
    day = (now - timezone.timedelta(days=3)).date().isoformat()
    by_date = client.get(jobs_url(scene) + f"?since={day}&until={day}").content.decode()
    assert re.findall(r'data-job="([^"]+)"', by_date) == [failed.public_id]
    for query in (
        "?status=bogus",
        "?since=99999-01-01",
        "?cursor=garbage",
        "?cursor=9999-99_1",
        "?new=%00",
    ):
        assert client.get(jobs_url(scene) + query).status_code in (200, 400)


def test_spend_this_month_is_what_the_jobs_were_charged(client_for, scene):
    finished_job(scene.deployment, charged_microcredits=1_250_000)
    finished_job(scene.deployment, charged_microcredits=250_000)
    finished_job(
        scene.deployment,
        charged_microcredits=9_000_000,
        settled_at=timezone.now() - timezone.timedelta(days=40),
    )
    html = client_for(scene.user).get(jobs_url(scene)).content.decode()
    spend = html.split('data-testid="spend-month"')[1][:80]
    assert format_credits(1_500_000) in spend


def test_the_job_page_shows_input_output_and_money(client_for, scene):
    job = finished_job(scene.deployment, output={"images": ["https://cdn.example/a.png"]})
    html = client_for(scene.user).get(f"/infra/jobs/{job.public_id}").content.decode()
    assert "https://cdn.example/a.png" in html and "an astronaut" in html
    assert "18420 ms" in html and "JOBTEST_SMALL" in html
    assert format_credits(job.charged_microcredits, 6).rstrip("0") in html
