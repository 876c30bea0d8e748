"""Every console page, for every role, at 1280 px and at 390 px, with names at their
maximum length (100 characters without a space): nothing widens the page, every menu and
dialog opens inside the viewport, the navigation lists what the role table allows, and
each page's primary action is there for the roles that may do it and only for them.

The data, the pages and the loop are shared with the Arabic test (tests/browser/
console_pages.py). Screenshots go to ``artifacts/browser/console/<role>-<width>-<page>.png``.
"""

import pytest

from orgs.permissions import Perm
from tests.browser.console_pages import (
    HREFS,
    ROLES,
    Visit,
    check_key_dialog,
    check_menus,
    check_primary_action,
    may,
    seed,
    visit_every_page,
)
from tests.site.test_navigation import ALL_SECTIONS, may_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("name", ROLES)
def test_every_page_fits_and_follows_the_role_table(browser, live_server, artifacts, name):
    world = seed()
    org = None if name == "personal" else world["org"]
    user = world["users"][name]

    def check(visit: Visit) -> None:
        page, width, label = visit.page, visit.width, visit.label
        want = {"404": 404, "403": 403}.get(label)
        if want and visit.status != want:
            visit.problems.append(f"{width} {label}: status {visit.status}, expected {want}")
        if page.locator(".sidenav").count() != 1:
            visit.problems.append(f"{width} {label}: no console navigation")
        check_primary_action(visit)
        if label == "dashboard":
            switcher = page.locator(".context-switcher__name")
            shown = org.name if org else user.name
            if not switcher.is_visible() or switcher.get_attribute("title") != shown:
                visit.problems.append(f"{width} the context switcher does not show {shown[:10]}…")
            selector = ".sidenav a" if width > 760 else ".nav-menu__panel a"
            hrefs = set(page.eval_on_selector_all(selector, HREFS))
            expected = {p for p in ALL_SECTIONS if may_open(visit.role, p)}
            if hrefs != expected:
                visit.problems.append(f"{width} nav {sorted(hrefs)} != {sorted(expected)}")
            check_menus(visit)
        if label == "keys" and may(visit.role, Perm.KEYS_MANAGE):
            check_key_dialog(visit)

    problems = visit_every_page(
        browser, live_server, name=name, world=world, shots=artifacts / "console", check=check
    )
    assert not problems, "\n".join(problems)
