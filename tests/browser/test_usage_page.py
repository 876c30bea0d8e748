"""``/usage`` in a real browser: filter by model and status, load more rows (htmx), open a
request, download the CSV; screenshots at 1280 and 390 px."""

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db.models import Sum
from playwright.sync_api import expect

from billing.templatetags.money import credits
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import key_make, personal
from tests.browser.console_pages import FITS, session_cookie
from tests.usage.analytics import ev
from usage.models import UsageEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seed():
    user = UserFactory(email="finance@example.com")
    org = personal(user)
    prod, _ = key_make(org=org, actor=user, name="prod")
    batch, _ = key_make(org=org, actor=user, name='=HYPERLINK("http://evil","x")')
    now = datetime.now(UTC)
    models = ["gpt-5.5", "claude-opus", "flux-pro", "veo-3", "gemini-pro", "sora", "kling",
              "mistral", "llama", "qwen"]  # fmt: skip
    for i in range(80):
        ev(
            prod if i % 3 else batch,
            cost=(i % 17 + 1) * 137_000,
            model=models[i % 10],
            status_code=(200, 200, 200, 429, 500)[i % 5],
            latency_ms=100 + i * 7,
            at=now - timedelta(hours=i * 8),
            request_id=f"req_{i:03d}",
        )
    return user, org


def test_filter_open_a_request_and_download_the_csv(browser, live_server, artifacts):
    user, org = seed()
    shots = artifacts / "usage"
    shots.mkdir(exist_ok=True)
    for width in (1280, 390):
        context = browser.new_context(
            viewport={"width": width, "height": 900}, base_url=live_server.url,
            accept_downloads=True,
        )  # fmt: skip
        context.add_cookies([session_cookie(user, None, live_server.url)])
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/usage")
        page.screenshot(path=str(shots / f"usage-{width}.png"), full_page=True)
        assert page.evaluate(FITS), f"/usage is wider than {width}px"
        since = datetime.now(UTC) - timedelta(days=30)
        month = UsageEvent.objects.filter(organization=org, occurred_at__gte=since)
        expect(page.get_by_test_id("usage-requests")).to_have_text(str(month.count()))

        # The filters fold away on a phone, open on a desktop.
        box = page.get_by_test_id("usage-filter-box")
        filters = page.get_by_test_id("usage-filters")
        if width < 760:
            expect(box).not_to_have_attribute("open", "")
            expect(filters).to_be_hidden()
            box.locator("summary").click()
        expect(box).to_have_attribute("open", "")
        expect(filters).to_be_visible()

        # Filter: one model, 2xx only.
        filters.get_by_label("Model", exact=True).select_option("gpt-5.5")
        filters.get_by_label("Status", exact=True).fill("2xx")
        filters.get_by_role("button", name="Apply").click()
        page.wait_for_url("**/usage?**model=gpt-5.5**")
        shown = month.filter(model="gpt-5.5", status_code__range=(200, 299))
        expect(page.get_by_test_id("usage-requests")).to_have_text(str(shown.count()))
        total = shown.aggregate(s=Sum("cost_microcredits"))["s"]
        expect(page.get_by_test_id("usage-spend")).to_have_text(credits(total))
        rows = page.locator('[data-testid="usage-log"] tbody tr[data-request]')
        assert rows.count() == shown.count()
        page.screenshot(path=str(shots / f"usage-filtered-{width}.png"), full_page=True)

        # The CSV is what the page shows.
        with page.expect_download() as info:
            page.get_by_test_id("usage-export").click()
        download = info.value
        assert download.suggested_filename.startswith("hypereal-usage-")
        body = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
        assert sorted(r["request_id"] for r in body) == sorted(
            shown.values_list("request_id", flat=True)
        )

        # Open a request from the log.
        first = rows.first.get_attribute("data-request")
        rows.first.get_by_role("link").click()
        page.wait_for_url(f"**/usage/requests/{first}")
        event = UsageEvent.objects.get(request_id=first)
        expect(page.get_by_test_id("usage-request-status")).to_have_text(str(event.status_code))
        assert page.evaluate(FITS)
        page.screenshot(path=str(shots / f"usage-request-{width}.png"), full_page=True)

        # Unfiltered, 90 days: "Load more" appends the next keyset page in place.
        page.goto("/usage?days=90")
        log = page.locator('[data-testid="usage-log"] tbody tr[data-request]')
        assert log.count() == 50
        page.get_by_test_id("usage-load-more").click()
        expect(log).to_have_count(80)
        ids = [r.get_attribute("data-request") for r in log.all()]
        assert ids == [f"req_{i:03d}" for i in range(80)]
        context.close()

    # A formula in a key's name arrives neutralised.
    names = {r["key_name"] for r in body}
    assert names == {"prod", '\'=HYPERLINK("http://evil","x")'}
