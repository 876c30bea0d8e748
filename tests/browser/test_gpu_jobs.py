"""A test job in a real browser: the developer opens a ready deployment's Jobs tab, pastes a
JSON input, runs it, and watches the job's card (htmx, every 2 s) go queued → running →
succeeded with the hold and the settlement; the available balance moves by exactly the
charge. The provider is the simulator behind the real RunPod adapter, its clock moved by the
test so the card is seen in each state.

Screenshots: ``artifacts/browser/gpu-jobs-*.png``.
"""

import pytest
from playwright.sync_api import expect

from billing.money import format_credits
from infra.models import GpuJob
from tests.accounts.factories import DEFAULT_PASSWORD
from tests.infra.gpuscene import make_scene

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()


@pytest.mark.parametrize("width", [1280, 390])
def test_run_a_test_job_and_watch_it_settle(page, live_server, gpu_simulator, artifacts, width):
    page.set_viewport_size({"width": width, "height": 900})
    gpu_simulator.clock.freeze()
    scene = make_scene(gpu_simulator, credits=100)
    before = scene.wallet.available_microcredits
    sign_in(page, scene.user.email)
    page.goto(f"/infra/deployments/{scene.deployment.slug}/jobs")
    expect(page.get_by_test_id("available-balance")).to_contain_text(format_credits(before))
    page.screenshot(path=str(artifacts / f"gpu-jobs-{width}-1-jobs-tab.png"), full_page=True)

    field = page.get_by_label("Input (JSON object)")
    field.fill("not json")
    page.get_by_role("button", name="Run job").click()
    expect(page.locator(".field__errors")).to_contain_text("This is not valid JSON")
    page.screenshot(path=str(artifacts / f"gpu-jobs-{width}-2-field-error.png"), full_page=True)

    field = page.get_by_label("Input (JSON object)")
    field.fill(
        '{"prompt": "a cinematic portrait of an astronaut", '
        '"simulate": {"queue_seconds": 1.5, "seconds": 600, '
        '"output": {"images": ["https://cdn.example/out.png"]}}}'
    )
    page.get_by_role("button", name="Run job").click()
    card = page.get_by_test_id("new-job").get_by_test_id("job-status")
    expect(card).to_have_attribute("data-status", "queued")
    job = GpuJob.objects.get(organization=scene.org)
    held = job.hold.amount_microcredits
    expect(card.get_by_test_id("job-held")).to_contain_text(format_credits(held, 6).rstrip("0"))
    page.screenshot(path=str(artifacts / f"gpu-jobs-{width}-3-queued.png"), full_page=True)

    gpu_simulator.advance(1.5)
    expect(card).to_have_attribute("data-status", "running", timeout=20_000)
    page.screenshot(path=str(artifacts / f"gpu-jobs-{width}-4-running.png"), full_page=True)

    gpu_simulator.advance(600)
    expect(card).to_have_attribute("data-status", "succeeded", timeout=30_000)
    job.refresh_from_db()
    charged = 600_000 * 2 * 150 // 1000  # 0.18 credits: the balance shows it
    assert job.charged_microcredits == charged
    expect(card.get_by_test_id("job-charged")).to_contain_text(
        format_credits(charged, 6).rstrip("0")
    )
    page.screenshot(path=str(artifacts / f"gpu-jobs-{width}-5-succeeded.png"), full_page=True)

    page.reload()
    after = scene.wallet.available_microcredits
    assert after == before - charged
    expect(page.get_by_test_id("available-balance")).to_contain_text(format_credits(after))
    expect(page.locator(f'[data-job="{job.public_id}"]')).to_contain_text("Succeeded")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.goto(f"/infra/jobs/{job.public_id}")
    expect(page.get_by_test_id("job-output")).to_contain_text("https://cdn.example/out.png")
    page.screenshot(path=str(artifacts / f"gpu-jobs-{width}-6-job-page.png"), full_page=True)
