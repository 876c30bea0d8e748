"""The GPU flow end to end in a real browser, against the simulator behind the real RunPod
adapter: a developer creates a deployment at ``/infra/deployments/new``; the beat task finds
its endpoint up and it turns ready; from its Jobs tab the developer runs a test job and
watches the card go queued → running → succeeded; the balance the console shows moves by
exactly the settled charge, checked against the database. (The simulator's callbacks go to
the discard port here: the card's polls settle the job. tests/infra/test_job_lifecycle.py
has the callback over HTTP.)

Screenshots of every step at 1280 and 390 px: ``artifacts/browser/gpu-flow-*.png``.
"""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing.models import Wallet
from billing.money import format_credits
from billing.templatetags.money import credits
from infra.models import Deployment, GpuJob, GpuType
from infra.tasks import refresh_deployments
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import fund, personal
from tests.browser.signin import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 390)


def shoot(page, artifacts, name: str) -> None:
    """The page at each width (back at the first afterwards); nothing wider than the
    window."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays at the top
        path = artifacts / f"gpu-flow-{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} at {width} px is {overflow} px too wide"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def shown_credits(locator) -> Decimal:
    """A "1,234.56 credits" figure as the page shows it."""
    return Decimal(locator.inner_text().split()[0].replace(",", ""))


def test_create_a_deployment_run_a_test_job_and_see_the_balance_move(
    page, live_server, gpu_simulator, artifacts
):
    user = UserFactory(email="gpu-flow@example.com")
    org = personal(user)
    fund(org, 100)
    rate = GpuType.objects.get(code="ADA_24").microcredits_per_second
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    sign_in(page, user)

    # Create it.
    page.goto("/infra/deployments/new")
    page.get_by_label("Slug").fill("flux-dev")
    page.get_by_label("Name", exact=True).fill("Flux dev")
    page.get_by_label("Docker image").fill("runpod/worker-comfyui:5.2.0-flux1-dev")
    page.get_by_label("GPU tier", exact=True).select_option("ADA_24")
    page.get_by_label("GPUs per worker").fill("2")
    page.get_by_label("Execution timeout (seconds)").fill("120")
    page.get_by_label("Idle timeout (seconds)").click()  # blur: htmx recomputes the price
    expect(page.get_by_test_id("price-preview")).to_contain_text(
        f"Each job holds {credits(rate * 2 * 120)} credits"
    )
    shoot(page, artifacts, "1-new")
    page.get_by_role("button", name="Create deployment").click()
    expect(page.get_by_role("heading", name="Flux dev")).to_be_visible()
    expect(page.get_by_test_id("status")).to_contain_text("Deploying")
    deployment = Deployment.objects.get(organization=org, slug="flux-dev")
    assert deployment.provider_endpoint_id in {e["id"] for e in gpu_simulator.state()["endpoints"]}
    shoot(page, artifacts, "2-deploying")

    # Its workers start (0.1 s at the simulator's speed); the beat task marks it ready.
    gpu_simulator.advance(gpu_simulator.init_seconds)
    assert refresh_deployments.apply().get() == 1
    page.reload()
    expect(page.get_by_test_id("status")).to_contain_text("Ready")
    expect(page.get_by_test_id("workers")).to_contain_text("1 idle")
    shoot(page, artifacts, "3-ready")

    # The Jobs tab: what is available before, as the page shows it and as the ledger has it.
    page.locator("nav.tabs").get_by_role("link", name="Jobs").click()
    balance = page.get_by_test_id("available-balance")
    expect(balance).to_contain_text(format_credits(100_000_000))
    before = shown_credits(balance)
    assert before * 1_000_000 == Wallet.objects.get(organization=org).available_microcredits

    # Run a test job, step by step on the simulator's clock.
    gpu_simulator.clock.freeze()
    page.get_by_label("Input (JSON object)").fill(
        '{"prompt": "a red fox in the snow, 35 mm", "simulate": {"seconds": 10, '
        '"output": {"images": ["https://cdn.example/fox.png"]}}}'
    )
    page.get_by_role("button", name="Run job").click()
    card = page.get_by_test_id("new-job").get_by_test_id("job-status")
    expect(card).to_have_attribute("data-status", "queued")
    job = GpuJob.objects.get(deployment=deployment)
    expect(card.get_by_test_id("job-held")).to_contain_text(
        format_credits(job.hold.amount_microcredits, 6).rstrip("0")
    )
    shoot(page, artifacts, "4-queued")
    gpu_simulator.advance(gpu_simulator.queue_delay)
    expect(card).to_have_attribute("data-status", "running", timeout=10_000)
    shoot(page, artifacts, "5-running")
    gpu_simulator.advance(10)
    expect(card).to_have_attribute("data-status", "succeeded", timeout=10_000)
    job.refresh_from_db()
    charged = 10_000 * 2 * rate // 1000  # 10 s × 2 GPUs × the ADA_24 rate
    assert (job.execution_ms, job.gpu_type, job.charged_microcredits) == (10_000, "ADA_24", charged)
    expect(card.get_by_test_id("job-charged")).to_contain_text(
        format_credits(charged, 6).rstrip("0")
    )
    shoot(page, artifacts, "6-succeeded")

    # The balance moved by exactly the charge, on the Jobs tab (without a reload: the card's
    # last poll tells the tab's figures and table to fetch themselves) and on the billing page.
    wallet = Wallet.objects.get(organization=org)
    expect(page.get_by_test_id("available-balance")).to_contain_text(
        format_credits(wallet.available_microcredits)
    )
    after = shown_credits(page.get_by_test_id("available-balance"))
    assert (wallet.held_microcredits, wallet.available_microcredits) == (0, 100_000_000 - charged)
    assert after * 1_000_000 == wallet.available_microcredits
    assert (before - after) * 1_000_000 == charged
    expect(page.locator(f'[data-job="{job.public_id}"]')).to_contain_text("Succeeded")
    shoot(page, artifacts, "7-jobs-after")
    page.goto("/billing")
    assert shown_credits(page.get_by_test_id("balance")) * 1_000_000 == wallet.balance_microcredits
    shoot(page, artifacts, "8-billing")
