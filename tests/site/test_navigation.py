"""The side navigation lists exactly the sections the role may open, by the role table."""

import re

import pytest
from django.urls import resolve

from orgs.access import ACCESS_ATTR
from orgs.permissions import PERMISSION_ROLES, Role
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import join, team
from tests.site.pages import in_org

pytestmark = pytest.mark.django_db

#: Every console section there is, whether or not a role may open it.
ALL_SECTIONS = {
    "/dashboard",
    "/manage-api-keys",
    "/usage",
    "/billing",
    "/models",
    "/infra/deployments",
    "/settings/organization",
}


def nav_links(html: str) -> set[str]:
    nav = re.search(r'<nav class="sidenav"[^>]*>(.*?)</nav>', html, re.S).group(1)
    return set(re.findall(r'href="([^"]+)"', nav))


def may_open(role: Role, path: str) -> bool:
    access = getattr(resolve(path).func, ACCESS_ATTR)
    return access.kind != "context" or role in PERMISSION_ROLES[access.perm]


@pytest.mark.parametrize("role", list(Role))
def test_nav_lists_what_the_role_may_open(client_for, role):
    owner = UserFactory()
    org = team(owner, "Acme Inc")
    user = owner if role == Role.OWNER else join(org, role)
    client = in_org(client_for(user), org)
    html = client.get("/dashboard").content.decode()
    links = nav_links(html)
    assert links == {p for p in ALL_SECTIONS if may_open(role, p)}
    assert "/models" in links
    for path in links:  # and each one opens
        assert client.get(path).status_code == 200, path
    for path in ALL_SECTIONS - links:
        assert client.get(path).status_code == 403, path


def test_personal_context_lists_every_section(client_for, user):
    assert nav_links(client_for(user).get("/dashboard").content.decode()) == ALL_SECTIONS


def test_models_page_marks_its_own_section(client_for, user):
    html = client_for(user).get("/models").content.decode()
    assert re.search(r'href="/models" data-nav="models" aria-current="page"', html)
