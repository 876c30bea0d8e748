"""A deployment created in a real browser: the GPU tier table, the live price preview
(htmx), the webhook secret shown once, then the detail page with the provider's workers
(the simulator behind the real RunPod adapter). Screenshots at 1280 and 390 px."""

import re

import pytest
from playwright.sync_api import expect

from billing.templatetags.money import credits
from infra import providers, services
from infra.models import Deployment, GpuType
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import fund, personal
from tests.browser.signin import sign_in
from tests.gpusim import endpoint_with_template

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_create_a_deployment_in_the_ui(
    width, page, live_server, artifacts, gpu_simulator, settings
):
    settings.ALLOW_PRIVATE_OUTBOUND = True  # the webhook URL below is on loopback
    user = UserFactory(email=f"gpu-{width}@example.com")
    fund(personal(user), 1_000)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, user)
    rates = dict(GpuType.objects.values_list("code", "microcredits_per_second"))

    page.goto("/infra/deployments")
    expect(page.get_by_text("No deployments yet.")).to_be_visible()
    page.get_by_test_id("new-deployment").click()
    page.get_by_role("heading", name="New deployment").wait_for()

    page.get_by_label("Slug").fill("my-comfy")
    page.get_by_label("Docker image").fill("runpod/worker-comfyui:5.1.0-base")
    page.get_by_label("GPU tier", exact=True).select_option("ADA_48_PRO")
    page.get_by_label("Fallback GPU tier (optional)").select_option("HOPPER_141")
    page.get_by_label("GPUs per worker").fill("2")
    page.get_by_label("Execution timeout (seconds)").fill("120")
    page.get_by_label("Maximum workers").fill("3")
    page.get_by_label("Webhook URL (optional)").fill("http://127.0.0.1:9/hook")
    page.get_by_label("Environment variables").fill("HF_TOKEN=hf_browser_secret")
    page.get_by_label("Idle timeout (seconds)").click()  # blur: htmx recomputes the price
    top = max(rates["ADA_48_PRO"], rates["HOPPER_141"])
    expect(page.get_by_test_id("price-preview")).to_contain_text(
        f"Each job holds {credits(top * 2 * 120)} credits"
    )
    expect(page.get_by_test_id("price-preview")).to_contain_text(
        f"Up to {credits(top * 2, 6)} credits per second"
    )
    page.screenshot(path=str(artifacts / f"deployment-new-{width}.png"), full_page=True)

    page.get_by_role("button", name="Create deployment").click()
    reveal = page.get_by_test_id("secret-reveal")
    expect(reveal).to_be_visible()
    secret = page.locator("#webhook-secret").inner_text().strip()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]{40,}", secret)
    deployment = Deployment.objects.get(slug="my-comfy")
    assert services.deployment_webhook_secret(deployment) == secret
    endpoint = endpoint_with_template(gpu_simulator, deployment.provider_endpoint_id)
    assert endpoint["template"]["env"] == {"HF_TOKEN": "hf_browser_secret"}
    assert (endpoint["gpuCount"], endpoint["workersMax"]) == (2, 3)
    page.screenshot(path=str(artifacts / f"deployment-secret-{width}.png"), full_page=True)

    # At the provider: two of the three workers busy, four jobs waiting.
    gpu_simulator.clock.freeze()
    gpu_simulator.advance(gpu_simulator.init_seconds)
    provider = providers.get_provider()
    for queue_seconds in (0, 0, 3600, 3600, 3600, 3600):
        provider.run(
            deployment.provider_endpoint_id,
            {"input": {"simulate": {"queue_seconds": queue_seconds, "seconds": 3600}}},
        )
    gpu_simulator.advance(1)
    page.get_by_role("link", name="Go to the deployment").click()
    expect(page.get_by_test_id("status")).to_contain_text("Deploying")
    expect(page.get_by_test_id("workers")).to_contain_text("1 idle")
    expect(page.get_by_test_id("queue")).to_contain_text("4 waiting")
    assert secret not in page.content()
    assert "hf_browser_secret" not in page.content()
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(artifacts / f"deployment-detail-{width}.png"), full_page=True)
    assert fits

    services.deployments_refresh()  # the beat task: the endpoint answers, it is ready
    page.reload()
    expect(page.get_by_test_id("status")).to_contain_text("Ready")
