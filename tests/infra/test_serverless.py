"""Serverless GPU models: the seeded catalog, ``/gpu-recommend``, and ``POST /v1/gpu/{slug}``
(inline for a short model, 202 and a poll for a long one), billed per call or per second
capped at ``max_seconds``, refunded on failure. The provider is the simulator behind the
real RunPod adapter; it serves each model's endpoint (its slug) on first use, as under
``make run``."""

from decimal import Decimal

import pytest

from billing.models import CatalogModel, Hold
from billing.money import format_credits
from infra.models import GpuJob, ServerlessGpuModel
from infra.serverless_seed import seed
from usage.models import UsageEvent

from .gpuscene import CREDIT, captures, hold_of, make_scene, provider_jobs, provider_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def models_sim(sim):
    """The simulator (clock frozen) creating a model's endpoint when first asked for it."""
    sim.auto_endpoints = True
    return sim


@pytest.fixture
def rich(db, models_sim):
    return make_scene(models_sim, credits=5000)


def poll(client, scene, body: dict) -> dict:
    return client.get(body["pollUrl"], **scene.auth()).json()


def call(client, scene, slug: str, simulate: dict | None = None, **extra):
    body = {
        "input": {"prompt": "a tabby cat astronaut", **({"simulate": simulate} if simulate else {})}
    }
    body.update(extra)
    return client.post(f"/v1/gpu/{slug}", body, content_type="application/json", **scene.auth())


def test_the_catalog_is_seeded_from_the_price_catalog():
    assert seed() == 0  # the migration did it; seeding again adds nothing
    sdxl = ServerlessGpuModel.objects.select_related("catalog_model").get(slug="sdxl")
    wan = ServerlessGpuModel.objects.select_related("catalog_model").get(slug="wan-video")
    assert sdxl.catalog_model.model_id == "sdxl" and sdxl.catalog_model.family == "gpu"
    assert sdxl.catalog_model.pricing == CatalogModel.Pricing.PER_REQUEST
    assert wan.catalog_model.pricing == CatalogModel.Pricing.PER_SECOND
    assert wan.catalog_model.max_seconds == 600
    assert sdxl.inline_seconds > 0 and wan.inline_seconds == 0


def test_a_short_model_answers_inline_and_charges_its_price(client, rich, models_sim):
    start = rich.wallet.balance_microcredits
    models_sim.clock.resume()  # the call waits inline while the job runs (10× real time)
    response = call(
        client, rich, "sdxl", {"seconds": 4.21, "output": ["https://cdn.example/out.png"]}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    price = CatalogModel.objects.get(model_id="sdxl").unit_microcredits
    assert body == {
        "id": body["id"],
        "status": "succeeded",
        "outputs": ["https://cdn.example/out.png"],
        "costCredits": price // CREDIT,
        "durationMs": 4210,
    }
    job = GpuJob.objects.get(public_id=body["id"])
    assert job.serverless_model.slug == "sdxl" and job.deployment is None
    assert hold_of(job).amount_microcredits == price
    assert [e.amount_microcredits for e in captures(job)] == [-price]
    assert rich.wallet.balance_microcredits == start - price and rich.wallet.held_microcredits == 0
    event = UsageEvent.objects.get(request_id=f"gpujob:{job.public_id}")
    assert (event.endpoint, event.model, event.cost_microcredits) == ("gpu", "sdxl", price)
    # Its poll answers in the same (serverless) shape.
    polled = client.get(f"/v1/gpu/jobs/{job.public_id}", **rich.auth()).json()
    assert set(polled) == {"id", "status", "outputs", "costCredits", "durationMs"}


def test_a_failed_call_is_refunded(client, rich, models_sim):
    start = rich.wallet
    models_sim.clock.resume()
    body = call(client, rich, "sdxl", {"seconds": 1, "outcome": "failed"}).json()
    assert body["status"] == "failed" and body["costCredits"] == 0 and body["error"]
    job = GpuJob.objects.get(public_id=body["id"])
    assert hold_of(job).status == Hold.Status.RELEASED
    assert rich.wallet.balance_microcredits == start.balance_microcredits
    assert rich.wallet.held_microcredits == 0


def test_a_long_model_answers_202_and_its_poll_settles_per_second(client, rich, models_sim):
    start = rich.wallet.balance_microcredits
    response = call(client, rich, "wan-video", {"seconds": 156})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["pollUrl"] == f"/v1/gpu/jobs/{body['id']}"
    assert set(body) == {"id", "status", "outputs", "costCredits", "durationMs", "pollUrl"}
    job = GpuJob.objects.get(public_id=body["id"])
    assert hold_of(job).amount_microcredits == 2 * CREDIT * 600  # 2 credits/s × 600 s max

    assert poll(client, rich, body)["status"] == "queued"
    models_sim.advance(models_sim.queue_delay)
    assert poll(client, rich, body)["status"] == "running"
    models_sim.advance(156)
    done = poll(client, rich, body)
    # The reference's example: 156 s × 2 credits = 312 credits.
    assert (
        done["status"] == "succeeded"
        and done["costCredits"] == 312
        and done["durationMs"] == 156000
    )
    assert rich.wallet.balance_microcredits == start - 312 * CREDIT
    assert rich.wallet.held_microcredits == 0


def test_per_second_billing_is_capped_at_max_seconds(client, rich, models_sim):
    body = call(client, rich, "wan-video", {"seconds": 400}).json()
    # The price list changes while it runs: at most 300 s of it are billed now.
    CatalogModel.objects.filter(model_id="wan-video").update(max_seconds=300)
    models_sim.advance(models_sim.queue_delay + 400)
    done = poll(client, rich, body)
    assert done["status"] == "succeeded"
    assert done["costCredits"] == 600 and done["durationMs"] == 400_000  # as reported


def test_a_fraction_of_a_second_is_billed_exactly(client, rich, models_sim):
    body = call(client, rich, "wan-video", {"seconds": 1.234}).json()
    models_sim.advance(models_sim.queue_delay + 1.234)
    done = poll(client, rich, body)
    assert done["status"] == "succeeded" and done["durationMs"] == 1234
    # 1,234 ms × 2,000,000 µcr/s = 2,468,000 µcr = 2.468 credits, written exactly.
    assert Decimal(str(done["costCredits"])) == Decimal("2.468")
    assert GpuJob.objects.get(public_id=body["id"]).charged_microcredits == 2_468_000


def test_cancelling_a_running_per_second_call_charges_the_executed_time(client, rich, models_sim):
    body = call(client, rich, "wan-video", {"queue_seconds": 0, "seconds": 60}).json()
    job = GpuJob.objects.get(public_id=body["id"])
    assert provider_status(models_sim, job) == "IN_PROGRESS"
    models_sim.advance(7.5)
    cancelled = client.post(f"/v1/gpu/jobs/{body['id']}/cancel", **rich.auth()).json()
    assert cancelled["status"] == "canceled"
    job.refresh_from_db()
    assert job.execution_ms == 7500
    assert job.charged_microcredits == 7500 * 2 * CREDIT // 1000 == 15 * CREDIT
    assert rich.wallet.held_microcredits == 0


@pytest.mark.parametrize(
    ("slug", "body", "status"),
    [
        ("no-such-model", {"input": {}}, 404),
        ("gpt-5.5", {"input": {}}, 404),  # a catalog model that is not a serverless GPU model
        ("sdxl", {"input": {}, "sync": True}, 400),
        ("sdxl", {"input": [1]}, 400),
        ("sdxl", {}, 400),
    ],
)
def test_bad_calls_are_refused_with_nothing_queued(client, rich, models_sim, slug, body, status):
    response = client.post(f"/v1/gpu/{slug}", body, content_type="application/json", **rich.auth())
    assert response.status_code == status and "error" in response.json()
    assert not GpuJob.objects.filter(organization=rich.org).exists()
    assert provider_jobs(models_sim) == []


def test_an_inactive_model_is_404(client, rich, models_sim):
    ServerlessGpuModel.objects.filter(slug="sdxl").update(active=False)
    assert call(client, rich, "sdxl").status_code == 404


def test_too_little_credit_for_the_worst_case_is_a_402(client, models_sim):
    poor = make_scene(models_sim, credits=100)  # wan-video holds 1,200 credits
    response = call(client, poor, "wan-video")
    assert (
        response.status_code == 402 and response.json()["error"]["type"] == "insufficient_credits"
    )
    assert not GpuJob.objects.filter(organization=poor.org).exists()


def test_gpu_recommend_is_public_searchable_and_priced_from_the_catalog(client):
    page = client.get("/gpu-recommend")
    assert page.status_code == 200
    html = page.content.decode()
    for model in ServerlessGpuModel.objects.select_related("catalog_model"):
        assert f'data-model="{model.slug}"' in html
        assert format_credits(model.catalog_model.unit_microcredits) in html
    assert "600 s" in html  # wan-video's maximum execution time
    assert html.count("example price") >= 2
    found = client.get("/gpu-recommend?q=video").content.decode()
    assert 'data-model="wan-video"' in found and 'data-model="sdxl"' not in found
    CatalogModel.objects.filter(model_id="sdxl").update(
        default_price=False, unit_microcredits=77 * CREDIT
    )
    again = client.get("/gpu-recommend?q=sdxl").content.decode()
    assert "example price" not in again.split('data-model="sdxl"')[1].split("</tr>")[0]
    assert "77.00" in again
    assert client.get("/gpu-recommend?q=" + "x" * 5000).status_code == 200
