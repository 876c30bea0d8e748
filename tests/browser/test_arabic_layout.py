"""Every console page in Arabic, for every role, at 1280 px and at 390 px, with names at
their maximum length: the page is right-to-left, nothing widens it (on either side),
every menu and dialog opens inside the viewport, the page's primary action is on screen
for the roles that may do it (and absent for the others), the charts run from the right,
and directional icons point the Arabic way. The GPU pages (deployments, their jobs,
/gpu-recommend) and the webhook settings are among them.

Switching language keeps the page, its query string and what was typed but not saved.

The data, the pages and the loop are shared with the English layout test
(tests/browser/console_pages.py). Screenshots go to
``artifacts/browser/arabic/<role>-<width>-<page>.png``.
"""

import re

import pytest

from orgs.permissions import Perm
from tests.browser.console_pages import (
    FITS,
    ROLES,
    Visit,
    check_key_dialog,
    check_menus,
    check_primary_action,
    may,
    seed,
    session_cookie,
    visit_every_page,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARABIC = re.compile(r"[\u0600-\u06FF]")
MIRRORED = "e => getComputedStyle(e).transform"
#: Arrows written as text outside a mirrored ``.dir-icon``, which point the English way: a
#: "→" (an Arabic translation writes "←" itself), or a back link starting with "←".
BARE_ARROWS = """() => { const found = [];
  const walk = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) { const n = walk.currentNode, text = n.textContent.trim();
    if ((text.includes('→') || text.startsWith('←'))
        && !n.parentElement.closest('.dir-icon, code, pre'))
      found.push(text.slice(0, 40)); }
  return found.slice(0, 3); }"""

#: Signed figures ("-12.00", "+5,000.00", "-$0.13") whose sign is drawn to the right of the
#: digits: in a right-to-left paragraph a leading sign is a neutral and follows the Arabic
#: direction unless the figure is isolated left to right (``td.num`` cells by the stylesheet,
#: figures elsewhere by ``|ltr``: a balance on a stat card, a statement's totals, a figure
#: inside a sentence). Every visible text in ``main``; [seen, seen outside .num, bad].
SIGNS_ON_THE_RIGHT = r"""() => { const bad = []; let seen = 0, outside = 0;
  const walk = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  const signed = /(?<!\d\s*)(?<=^|[\s(])[-+]\$?\d/g;
  while (walk.nextNode()) { const n = walk.currentNode;
    if (n.parentElement.closest('code, pre, script, style, textarea, svg')) continue;
    for (const m of n.textContent.matchAll(signed)) {
      const i = m.index, r = document.createRange();
      r.setStart(n, i); r.setEnd(n, i + 1); const sign = r.getBoundingClientRect();
      if (!sign.width) continue;  // not drawn (a closed menu, a hidden panel)
      r.setStart(n, i + 1); r.setEnd(n, i + 2); const next = r.getBoundingClientRect();
      seen += 1; if (!n.parentElement.closest('.num')) outside += 1;
      if (sign.x > next.x) bad.push(n.textContent.trim().slice(0, 20)); } }
  return [seen, outside, bad.slice(0, 3)]; }"""

#: Pages that must show a signed figure outside a table cell, so that the check has work:
#: the statement's "Credits in" (+…) everywhere; the personal account's balance is below
#: zero (see ``seed``), on its dashboard, billing page and GPU jobs page.
SIGNED_OUTSIDE_CELLS = {"statement": ROLES, "dashboard": ("personal",), "billing": ("personal",)}
SIGNED_OUTSIDE_CELLS["deployment-jobs"] = ("personal",)


def arabic_user(user):
    user.language = "ar"
    user.save(update_fields=["language"])
    return user


def check_arabic(visit: Visit) -> None:
    page, width, label = visit.page, visit.width, visit.label
    html = page.evaluate("[document.documentElement.lang, document.documentElement.dir]")
    if html != ["ar", "rtl"]:
        visit.problems.append(f"{visit.where}: <html lang dir> is {html}")
    if not ARABIC.search(page.locator("main").inner_text()):
        visit.problems.append(f"{visit.where}: no Arabic text in the page")
    check_primary_action(visit)
    if label == "dashboard":
        check_menus(visit)
    if label == "keys" and may(visit.role, Perm.KEYS_MANAGE):
        check_key_dialog(visit)
    if label == "usage":
        flip = page.locator(".chart__svg--bars").evaluate(MIRRORED)
        if not flip.startswith("matrix(-1"):
            visit.problems.append(f"{width} the daily chart is not mirrored: {flip}")
    if label == "key-detail" and visit.status == 200 and not page.locator("main .dir-icon").count():
        visit.problems.append(f"{visit.where}: no back arrow")
    seen, outside, misplaced = page.evaluate(SIGNS_ON_THE_RIGHT)
    if misplaced:
        visit.problems.append(f"{visit.where}: a sign drawn right of its figure: {misplaced}")
    if label == "billing" and visit.status == 200 and not seen - outside:
        # The ledger lists the seeded grants as "+…": the check above must have had work.
        visit.problems.append(f"{visit.where}: no signed figure in the ledger to check")
    if visit.name in SIGNED_OUTSIDE_CELLS.get(label, ()) and visit.status == 200 and not outside:
        visit.problems.append(f"{visit.where}: no signed figure outside the tables to check")
    bare = page.evaluate(BARE_ARROWS)
    if bare:
        visit.problems.append(f"{visit.where}: arrows outside .dir-icon: {bare}")
    for icon in page.locator("main .dir-icon").all()[:3]:
        if icon.is_visible() and not icon.evaluate(MIRRORED).startswith("matrix(-1"):
            visit.problems.append(f"{visit.where}: an arrow is not flipped")
            break


@pytest.mark.parametrize("name", ROLES)
def test_every_page_in_arabic_is_right_to_left_and_fits(browser, live_server, artifacts, name):
    world = seed()
    arabic_user(world["users"][name])

    problems = visit_every_page(
        browser,
        live_server,
        name=name,
        world=world,
        shots=artifacts / "arabic",
        check=check_arabic,
    )

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
