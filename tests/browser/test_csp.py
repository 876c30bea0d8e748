"""The Content-Security-Policy holds in a real browser: pages of every kind load without
one violation (inline scripts, on…= handlers, htmx's own style element, Swagger UI), and
htmx still works under it (the key-create dialog opens, copies, cancels)."""

import pytest
from playwright.sync_api import expect

from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.apikeys.factories import fund, personal
from tests.orgs.factories import org_make

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Recorded in the page before any of its scripts run: every violation the browser reports.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.lineNumber}`);
});
"""


@pytest.fixture
def watched(page):
    """The page, recording CSP violations from the DOM event and the console."""
    console: list[str] = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)

    def violations() -> list[str]:
        return console + page.evaluate("window.__cspViolations || []")

    page.violations = violations
    return page


def _sign_in(page, user):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.get_by_role("heading", name="Welcome", exact=False).wait_for()


def test_pages_load_without_a_violation(watched, live_server):
    user = UserFactory(email="csp@example.com")
    fund(personal(user), 100)
    org_make(owner=user, name="Policy Inc")

    watched.goto("/accounts/login/")
    header = watched.request.get(live_server.url + "/accounts/login/").headers
    policy = header["content-security-policy"]
    assert (
        "script-src 'self'" in policy
        and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )

    _sign_in(watched, user)
    for path in (
        "/dashboard",
        "/manage-api-keys",
        "/billing",
        "/models",
        "/settings/account",
        "/settings/organization/audit",
        "/api/docs/",
    ):
        watched.goto(path)
        watched.wait_for_load_state("networkidle")
        assert watched.violations() == [], (path, watched.violations())
    # Swagger UI really started (its start-up script is a file now, not inline).
    watched.goto("/api/docs/")
    expect(watched.locator(".swagger-ui .info .title")).to_contain_text("Hypereal Console API")
    assert watched.violations() == []


def test_htmx_dialog_works_under_the_policy(watched, live_server):
    user = UserFactory(email="dialog@example.com")
    fund(personal(user), 100)
    _sign_in(watched, user)

    watched.goto("/manage-api-keys")
    watched.get_by_role("link", name="Create API key").click()
    dialog = watched.locator("dialog#key-dialog")
    expect(dialog).to_have_attribute("open", "")
    # htmx's request-indicator <style> is in the page (allowed by its hash, not refused).
    styles = watched.evaluate(
        "[...document.querySelectorAll('head style')].map(s => s.textContent)"
    )
    assert any("htmx-indicator" in style for style in styles), styles

    dialog.get_by_role("link", name="Cancel").click()  # data-close-dialog, no navigation
    expect(dialog).not_to_have_attribute("open", "")
    assert watched.url.endswith("/manage-api-keys")

    watched.get_by_role("link", name="Create API key").click()
    expect(dialog).to_have_attribute("open", "")
    dialog.get_by_label("Name").fill("csp-key")
    dialog.get_by_role("button", name="Create key").click()
    reveal = dialog.get_by_test_id("key-reveal")
    expect(reveal).to_be_visible()
    watched.context.grant_permissions(["clipboard-read", "clipboard-write"])
    reveal.get_by_role("button", name="Copy").click()
    expect(reveal.get_by_role("button", name="Copied")).to_be_visible()
    assert watched.violations() == []
