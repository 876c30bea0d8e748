"""An API key's life in a real browser, checked against the live server's /v1/key.

A verified user with a funded personal wallet signs in, opens "API keys", creates a key in
the htmx dialog (an empty name is refused inside the dialog first), sees the ``ck_`` key
once, finds only its masked form after a reload, uses it, rotates it with a one-hour grace
(old and new both work), and revokes it by typing its name (the key is refused at once).
"""

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from apikeys.models import ApiKey
from billing.models import MICROCREDITS_PER_CREDIT
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.apikeys.factories import fund, personal

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY_RE = re.compile(r"ck_[0-9A-Za-z]{38}")


def v1_key(base_url: str, key: str) -> tuple[int, dict]:
    """``GET /v1/key`` on the live server with ``x-api-key``, as an SDK would send it."""
    assert base_url.startswith(("http://127.0.0.1", "http://localhost"))
    request = urllib.request.Request(f"{base_url}/v1/key", headers={"x-api-key": key})  # noqa: S310 (the live server's http URL)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (live server)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_create_reveal_once_use_rotate_with_grace_and_revoke(page, live_server, artifacts):
    user = UserFactory(email="dev@example.com")
    org = personal(user)
    fund(org, 1_000)

    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.get_by_role("heading", name="Welcome", exact=False).wait_for()

    # --- The list, then the htmx dialog ---------------------------------------------------
    page.goto("/manage-api-keys")
    page.get_by_role("heading", name="API keys", exact=True).wait_for()
    page.get_by_role("link", name="Create API key").click()
    dialog = page.locator("dialog#key-dialog")
    expect(dialog).to_have_attribute("open", "")
    expect(dialog.get_by_role("heading", name="Create API key")).to_be_visible()

    # An empty name: the error is shown in the dialog, which stays open; nothing is made.
    dialog.get_by_role("button", name="Create key").click()
    expect(dialog.locator(".field--invalid .field__errors")).to_contain_text("required")
    expect(dialog).to_have_attribute("open", "")
    assert page.url.endswith("/manage-api-keys")  # swapped in place, no navigation
    assert not ApiKey.objects.exists()

    # --- Create: the plaintext is revealed once --------------------------------------------
    dialog.get_by_label("Name").fill("prod-eu")
    dialog.get_by_label("Monthly spending limit (credits)").fill("50000")
    dialog.get_by_role("button", name="Create key").click()
    reveal = dialog.get_by_test_id("key-reveal")
    expect(reveal).to_be_visible()
    expect(reveal.get_by_role("heading")).to_have_text("Key “prod-eu” created")
    plaintext = reveal.locator("#new-key").inner_text().strip()
    assert KEY_RE.fullmatch(plaintext), plaintext
    page.screenshot(path=str(artifacts / "api-key-reveal.png"))

    key = ApiKey.objects.get()
    assert (key.name, key.organization_id) == ("prod-eu", org.pk)
    assert key.spending_limit_microcredits == 50_000 * MICROCREDITS_PER_CREDIT
    assert plaintext not in (key.secret_hash, key.masked)  # only a hash is stored

    # --- After a reload the plaintext is gone; the masked form is listed -----------------
    page.reload()
    row = page.locator("#key-table tbody tr", has_text="prod-eu")
    expect(row).to_have_count(1)
    expect(row.locator("code")).to_have_text(key.masked)
    assert key.masked == f"ck_{plaintext[3:7]}…{plaintext[-4:]}"
    assert plaintext not in page.content()
    assert plaintext[3:-4] not in page.content()
    expect(row).to_contain_text("50,000")  # the limit, shown with the month's spend
    page.screenshot(path=str(artifacts / "api-keys.png"), full_page=True)

    # --- The key works ------------------------------------------------------------------------
    status, body = v1_key(live_server.url, plaintext)
    assert status == 200, body
    assert (body["name"], body["id"], body["prefix"]) == ("prod-eu", key.public_id, key.masked)

    # --- Rotate with a one-hour grace: old and new both work ------------------------------------
    row.get_by_role("link", name="prod-eu").click()
    page.get_by_role("heading", name=re.compile("prod-eu")).wait_for()
    page.get_by_label("Keep the old secret working for (hours)").fill("1")
    page.get_by_role("button", name="Rotate", exact=True).click()
    rotated = page.get_by_test_id("rotated-key")
    expect(rotated).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("The old secret keeps working until")
    new_plaintext = rotated.inner_text().strip()
    assert KEY_RE.fullmatch(new_plaintext), new_plaintext
    assert new_plaintext != plaintext

    for secret in (plaintext, new_plaintext):
        status, body = v1_key(live_server.url, secret)
        assert status == 200, body
        assert body["name"] == "prod-eu"

    # --- Revoke by typing the name: refused at once -----------------------------------------------
    page.get_by_label("Type “prod-eu” to confirm").fill("prod-eu")
    page.get_by_role("button", name="Revoke key").click()
    page.wait_for_url(re.compile(r"/manage-api-keys$"))
    expect(page.get_by_text("was revoked")).to_be_visible()
    assert ApiKey.objects.get().status == ApiKey.Status.REVOKED

    status, body = v1_key(live_server.url, new_plaintext)
    assert status == 401, body
    assert body["error"]["type"] == "key_revoked"
    status, body = v1_key(live_server.url, plaintext)
    assert status == 401, body
    assert body["error"]["type"] == "key_revoked"
