"""``member_actions`` offers exactly what ``member_set_role``/``member_remove`` accept, and
the settings page shows exactly what it offers."""

import re

import pytest
from django.db import transaction
from django.test import Client

from hypereal_site.api.errors import ApplicationError
from orgs import services
from orgs.models import Membership
from orgs.permissions import Role
from orgs.selectors import member_actions

from .conftest import switch_to
from .factories import member_add, org_make

pytestmark = pytest.mark.django_db

ROLES = [r.value for r in Role]


class Rollback(Exception):
    pass


def accepted(call) -> bool:
    """Does the service accept ``call``? Run it and roll it back either way."""
    try:
        with transaction.atomic():
            call()
            raise Rollback
    except Rollback:
        return True
    except ApplicationError:
        return False


def scene(viewer_role: str, owners: int):
    """An organization with ``owners`` owners (the viewer counted if an owner) and one
    member of every other role."""
    founder_org = org_make()
    founder = Membership.objects.get(organization=founder_org)
    viewer = founder if viewer_role == "owner" else member_add(founder_org, role=viewer_role)
    for _ in range(owners - 1):
        member_add(founder_org, role="owner")
    for role in ("admin", "developer", "billing", "viewer"):
        member_add(founder_org, role=role)
    return founder_org, viewer


@pytest.mark.parametrize("owners", [1, 2])
@pytest.mark.parametrize("viewer_role", ROLES)
def test_what_is_offered_is_what_the_services_accept(viewer_role, owners):
    org, viewer = scene(viewer_role, owners)
    rows = member_actions(viewer=viewer)
    assert {row.member.pk for row in rows} == set(
        Membership.objects.filter(organization=org).values_list("pk", flat=True)
    )
    for row in rows:
        target = row.member
        may_set = {
            role
            for role in ROLES
            if role != target.role
            and accepted(
                lambda role=role, target=target: services.member_set_role(
                    membership=target, actor=viewer.user, role=role
                )
            )
        }
        offered = {role.value for role in row.roles} - {target.role}
        assert offered == may_set, (viewer_role, target.role)
        assert row.can_change_role == bool(may_set)
        if row.roles:
            assert target.role in {role.value for role in row.roles}  # preselected
        may_remove = accepted(
            lambda target=target: services.member_remove(membership=target, actor=viewer.user)
        )
        assert row.can_remove == may_remove, (viewer_role, target.role)


def test_an_admin_is_offered_no_owner_and_no_way_to_touch_owners():
    _org, admin = scene("admin", 2)
    rows = {row.member.role: row for row in member_actions(viewer=admin) if row.member != admin}
    assert not rows["owner"].can_change_role and not rows["owner"].can_remove
    assert Role.OWNER not in rows["developer"].roles
    assert rows["developer"].can_remove


def test_the_page_shows_exactly_the_offered_controls():
    org, viewer = scene("admin", 2)
    client = Client()
    client.force_login(viewer.user)
    switch_to(client, org)
    html = client.get("/settings/organization").content.decode()
    for row in member_actions(viewer=viewer):
        pid = row.member.public_id
        select = re.search(rf'<select name="role" id="role-{pid}">(.*?)</select>', html, re.S)
        if row.can_change_role:
            options = re.findall(r'<option value="(\w+)"', select.group(1))
            assert options == [role.value for role in row.roles]
        else:
            assert select is None
        assert (f"/settings/organization/members/{pid}/remove" in html) is row.can_remove
