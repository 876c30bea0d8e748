"""Every console page in Arabic, at 1280 px and at 390 px, with names at their maximum
length: the page is right-to-left, nothing widens it (on either side), every menu and
dialog opens inside the viewport, the page's primary action is on screen, the charts run
from the right, and directional icons point the Arabic way.

Switching language keeps the page, its query string and what was typed but not saved.

Screenshots go to ``artifacts/browser/arabic/<role>-<width>-<page>.png``.
"""

import re

import pytest

from tests.browser.test_console_layout import (
    FITS,
    RECT,
    inside,
    pages,
    seed,
    session_cookie,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1280, 390)
#: Owners see every page; a viewer sees the read-only shapes and a 403.
ROLES = ("owner", "personal", "viewer")
ARABIC = re.compile(r"[\u0600-\u06FF]")

#: The elements sticking out on either side (a right-to-left page overflows to the left).
CULPRITS = """() => [...document.querySelectorAll('body *')]
  .filter(e => { const r = e.getBoundingClientRect();
                 return r.width && (r.right > innerWidth + 1 || r.left < -1); })
  .filter(e => ![...e.children].some(c => { const r = c.getBoundingClientRect();
                 return r.width && (r.right > innerWidth + 1 || r.left < -1); }))
  .slice(0, 4).map(e => e.tagName.toLowerCase() + '.' + [...e.classList].join('.'))"""
PRIMARY = """() => { const b = [...document.querySelectorAll('main .btn--primary')]
  .find(e => e.offsetParent !== null);
  if (!b) return null;
  const r = b.getBoundingClientRect();
  return {left: r.left, right: r.right, w: innerWidth, text: b.textContent.trim()}; }"""
#: Pages whose primary action the owner must see (the others may have none, like a 404).
OWNER_PRIMARY = {"keys", "usage", "organization", "account", "sso"}


def arabic_user(user):
    user.language = "ar"
    user.save(update_fields=["language"])
    return user


@pytest.mark.parametrize("name", ROLES)
def test_every_page_in_arabic_is_right_to_left_and_fits(browser, live_server, artifacts, name):
    world = seed()
    org = None if name == "personal" else world["org"]
    user = arabic_user(world["users"][name])
    shots = artifacts / "arabic"
    shots.mkdir(exist_ok=True)
    problems = []

    for width in WIDTHS:
        context = browser.new_context(
            viewport={"width": width, "height": 860}, base_url=live_server.url
        )
        context.add_cookies([session_cookie(user, org, live_server.url)])
        page = context.new_page()
        page.set_default_timeout(15_000)
        for label, path in pages(name, world):
            page.goto(path)
            page.screenshot(path=str(shots / f"{name}-{width}-{label}.png"), full_page=True)
            where = f"{width} {label} ({path})"
            html = page.evaluate("[document.documentElement.lang, document.documentElement.dir]")
            if html != ["ar", "rtl"]:
                problems.append(f"{where}: <html lang dir> is {html}")
            if not page.evaluate(FITS):
                wide = page.evaluate("document.documentElement.scrollWidth")
                problems.append(f"{where}: page is {wide}px wide: {page.evaluate(CULPRITS)}")
            if not ARABIC.search(page.locator("main").inner_text()):
                problems.append(f"{where}: no Arabic text in the page")
            primary = page.evaluate(PRIMARY)
            if primary is None:
                if name == "owner" and label in OWNER_PRIMARY:
                    problems.append(f"{where}: no visible primary action")
            elif primary["left"] < 0 or primary["right"] > primary["w"]:
                problems.append(f"{where}: primary action {primary['text']!r} off screen")

            if label == "dashboard":
                for menu in page.locator("details.menu").all():
                    if not menu.is_visible():
                        continue
                    menu.locator("summary").click()
                    panel = menu.locator(".menu__panel")
                    panel.wait_for(state="visible")
                    rect = panel.evaluate(RECT)
                    kind = menu.get_attribute("class").split()[-1]
                    page.screenshot(path=str(shots / f"{name}-{width}-menu-{kind}.png"))
                    if not inside(rect):
                        problems.append(f"{width} menu {kind} outside the viewport: {rect}")
                    if not page.evaluate(FITS):
                        problems.append(f"{width} menu {kind} widens the page")
                    menu.locator("summary").click()

            if label == "keys" and name != "viewer":
                page.locator("main a.btn--primary[data-open-dialog='key-dialog']").click()
                dialog = page.locator("dialog#key-dialog[open]")
                dialog.wait_for(state="visible")
                page.locator("dialog#key-dialog form").wait_for()
                rect = dialog.evaluate(RECT)
                page.screenshot(path=str(shots / f"{name}-{width}-key-dialog.png"))
                if not inside(rect) or rect["bottom"] > rect["h"]:
                    problems.append(f"{width} create-key dialog outside the viewport: {rect}")
                page.keyboard.press("Escape")

            if label == "usage":
                flip = page.locator(".chart__svg--bars").evaluate(
                    "e => getComputedStyle(e).transform"
                )
                if not flip.startswith("matrix(-1"):
                    problems.append(f"{width} the daily chart is not mirrored: {flip}")

            if label == "key-detail":
                back = page.locator(".dir-icon").first.evaluate(
                    "e => getComputedStyle(e).transform"
                )
                if not back.startswith("matrix(-1"):
                    problems.append(f"{width} the back arrow is not flipped: {back}")
        context.close()

    assert not problems, "\n".join(problems)


def test_switching_language_keeps_the_page_its_query_and_unsaved_fields(
    browser, live_server, artifacts
):
    world = seed()
    user = world["users"]["personal"]
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=live_server.url)
    context.add_cookies([session_cookie(user, None, live_server.url)])
    page = context.new_page()
    page.set_default_timeout(15_000)

    page.goto("/settings/account?tab=profile")
    page.fill("#id_name", "Nadia, not saved yet")
    page.select_option("#id_timezone", "Asia/Riyadh")
    page.locator("details.lang-menu summary").click()
    page.locator("details.lang-menu button[value='ar']").click()
    page.wait_for_function("document.documentElement.dir === 'rtl'")

    assert page.url.endswith("/settings/account?tab=profile")
    assert page.input_value("#id_name") == "Nadia, not saved yet"
    assert page.input_value("#id_timezone") == "Asia/Riyadh"
    page.screenshot(path=str(artifacts / "arabic" / "switch-kept-fields.png"))
    user.refresh_from_db()
    assert user.language == "ar"
    assert user.name != "Nadia, not saved yet"  # kept in the page, not saved
    context.close()


def test_the_sign_in_page_switcher_keeps_the_typed_email(browser, live_server, artifacts):
    context = browser.new_context(viewport={"width": 390, "height": 860}, base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)

    page.goto("/accounts/login/?next=/usage")
    assert page.evaluate("document.documentElement.dir") == "ltr"
    page.fill("input[name='login']", "someone@example.com")
    page.locator(".entrance__languages button[value='ar']").click()
    page.wait_for_function("document.documentElement.dir === 'rtl'")

    assert page.url.endswith("/accounts/login/?next=/usage")
    assert page.input_value("input[name='login']") == "someone@example.com"
    assert page.evaluate(FITS)
    (artifacts / "arabic").mkdir(exist_ok=True)
    page.screenshot(path=str(artifacts / "arabic" / "sign-in-390.png"), full_page=True)
    context.close()
