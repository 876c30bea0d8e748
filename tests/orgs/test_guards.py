"""Role changes that would hurt the organization are refused, clearly, and change nothing.

Each refusal is checked for its status and error type, for the roles left as they were and
for the absence of any audit event.
"""

import threading

import pytest
from django.contrib.messages import constants, get_messages
from django.db import OperationalError, connection

from orgs import services
from orgs.models import AuditEvent, Membership
from orgs.permissions import Role
from tests.accounts.factories import UserFactory

from .conftest import assert_envelope, events
from .factories import member_add, org_make


def roles(org) -> dict[str, str]:
    return dict(Membership.objects.filter(organization=org).values_list("user__email", "role"))


def member_url(org, membership) -> str:
    return f"/api/orgs/{org.public_id}/members/{membership.public_id}"


@pytest.fixture
def unchanged(org):
    """Asserts at the end of the block that roles and the audit log did not move."""

    class Snapshot:
        def __enter__(self):
            self.roles, self.events = roles(org), AuditEvent.objects.count()
            return self

        def __exit__(self, *exc):
            if exc[0] is None:
                assert roles(org) == self.roles
                assert AuditEvent.objects.count() == self.events

    return Snapshot


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_nobody_changes_their_own_role(org, member, api, unchanged, role):
    me = member(role)
    with unchanged():
        response = api(me.user).patch(member_url(org, me), {"role": "viewer"})
        assert_envelope(response, 400, "cannot_change_own_role")


def test_the_last_owner_cannot_demote_themself(owner, org, api, unchanged):
    me = Membership.objects.get(organization=org, user=owner)
    with unchanged():
        assert_envelope(api(owner).patch(member_url(org, me), {"role": "admin"}), 400)
        with pytest.raises(services.ApplicationError):
            services.member_set_role(membership=me, actor=owner, role="admin")


def test_admin_cannot_grant_owner(org, member, api, unchanged):
    admin, dev = member("admin"), member("developer")
    with unchanged():
        response = api(admin.user).patch(member_url(org, dev), {"role": "owner"})
        error = assert_envelope(response, 403, "permission_denied")
        assert error["message"] == "Only an owner can grant owner."


def test_admin_cannot_change_or_remove_an_owner(owner, org, member, api, unchanged):
    admin = member("admin")
    founder = Membership.objects.get(organization=org, user=owner)
    with unchanged():
        changed = api(admin.user).patch(member_url(org, founder), {"role": "viewer"})
        assert "Only an owner" in assert_envelope(changed, 403, "permission_denied")["message"]
        removed = api(admin.user).delete(member_url(org, founder))
        assert "Only an owner" in assert_envelope(removed, 403, "permission_denied")["message"]


def test_admin_manages_lower_roles(org, member, api):
    admin, dev = member("admin"), member("developer")
    response = api(admin.user).patch(member_url(org, dev), {"role": "billing"})
    assert response.status_code == 200
    assert response.json()["role"] == "billing"
    event = events(org, "member.role_changed").get()
    assert (event.before, event.after, event.actor) == (
        {"role": "developer"},
        {"role": "billing"},
        admin.user,
    )
    assert api(admin.user).delete(member_url(org, dev)).status_code == 204
    assert not Membership.objects.filter(pk=dev.pk).exists()


def test_an_admin_cannot_touch_another_admin_promoted_above_them_by_rank(org, member, api):
    admin, other_admin = member("admin"), member("admin")
    # Same rank: allowed (docs/architecture.md: admins manage members, "not owners").
    response = api(admin.user).patch(member_url(org, other_admin), {"role": "viewer"})
    assert response.status_code == 200


def test_the_last_owner_cannot_leave(owner, org, api, unchanged):
    with unchanged():
        response = api(owner).post(f"/api/orgs/{org.public_id}/leave")
        assert_envelope(response, 409, "last_owner")


def test_the_last_owner_cannot_be_removed(owner, org, api, unchanged):
    me = Membership.objects.get(organization=org, user=owner)
    with unchanged():
        assert_envelope(api(owner).delete(member_url(org, me)), 400, "cannot_remove_self")
    # The service guard holds even for a caller that skips the self check (it is there
    # for the concurrent case below).
    with unchanged(), pytest.raises(services.ApplicationError) as exc:
        services._guard_last_owner(org, me, "be removed")
    assert exc.value.status == 409


def test_with_two_owners_one_may_demote_the_other_but_not_the_last(owner, org, member, api):
    second = member("owner")
    founder = Membership.objects.get(organization=org, user=owner)

    response = api(second.user).patch(member_url(org, founder), {"role": "admin"})

    assert response.status_code == 200
    assert roles(org)[owner.email] == "admin"
    # Now second is the last owner; the former owner (an admin) cannot touch them.
    events_before = AuditEvent.objects.count()
    refused = api(owner).patch(member_url(org, second), {"role": "admin"})
    assert_envelope(refused, 403)
    assert roles(org)[second.user.email] == "owner"
    assert AuditEvent.objects.count() == events_before


def test_an_owner_may_leave_when_another_owner_remains(owner, org, member, api):
    member("owner")
    response = api(owner).post(f"/api/orgs/{org.public_id}/leave")
    assert response.status_code == 204
    assert owner.email not in roles(org)
    assert events(org, "member.left").get().actor == owner


def test_transfer_makes_the_target_owner_and_the_actor_admin(owner, org, member, api):
    dev = member("developer")

    response = api(owner).post(f"/api/orgs/{org.public_id}/transfer", {"member_id": dev.public_id})

    assert response.status_code == 200, response.content
    assert response.json()["role"] == "owner"
    assert roles(org) == {owner.email: "admin", dev.user.email: "owner"}
    event = events(org, "org.ownership_transferred").get()
    assert event.target_id == dev.public_id
    assert event.after["owner"] == dev.user.email


def test_transfer_is_one_transaction(owner, org, member, monkeypatch, unchanged):
    """If writing the audit event fails, neither role change survives."""
    dev = member("developer")

    def boom(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "audit_record", boom)
    with unchanged(), pytest.raises(RuntimeError):
        services.org_transfer_ownership(organization=org, actor=owner, to=dev)


def test_transfer_to_someone_outside_the_org_is_404(owner, org, api, outsider, unchanged):
    theirs = Membership.objects.get(user=outsider)
    with unchanged():
        response = api(owner).post(
            f"/api/orgs/{org.public_id}/transfer", {"member_id": theirs.public_id}
        )
        assert_envelope(response, 404)


def test_refusals_on_the_settings_page_show_a_message(owner, org, member, web, unchanged):
    admin = member("admin")
    founder = Membership.objects.get(organization=org, user=owner)
    client = web(admin.user, org=org)

    with unchanged():
        response = client.post(
            f"/settings/organization/members/{founder.public_id}/role",
            {"role": "viewer"},
            follow=True,
        )
        assert response.status_code == 200
        assert b"Only an owner can change or remove an owner." in response.content
        response = client.post(
            f"/settings/organization/members/{admin.public_id}/role", {"role": "viewer"}
        )
        messages = [(m.level, m.message) for m in get_messages(response.wsgi_request)]
        assert messages == [(constants.ERROR, "You cannot change your own role.")]

    owner_client = web(owner, org=org)
    with unchanged():
        response = owner_client.post("/settings/organization/leave", follow=True)
        assert b"The last owner cannot leave. Make someone else an owner first." in (
            response.content
        )
        assert response.redirect_chain[-1][0] == "/settings/organization"


# --- two owners demoting each other at once ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_owners_demoting_each_other_at_once_leave_one_owner():
    a, b = UserFactory(email="a@example.com"), UserFactory(email="b@example.com")
    org = org_make(owner=a, name="Race")
    member_add(org, role=Role.OWNER, user=b)
    ma = Membership.objects.get(organization=org, user=a)
    mb = Membership.objects.get(organization=org, user=b)

    barrier = threading.Barrier(2, timeout=10)
    real_lock = services._lock_org

    def lock_after_both_started(organization):
        # Both transactions are open before either asks for the lock, so without the
        # row lock both would read "two owners" and both demotions would pass.
        barrier.wait()
        return real_lock(organization)

    outcomes: dict[str, object] = {}

    def demote(name, actor, target):
        try:
            services.member_set_role(membership=target, actor=actor, role=Role.ADMIN)
            outcomes[name] = "ok"
        except (services.ApplicationError, OperationalError) as exc:
            outcomes[name] = exc
        finally:
            connection.close()

    services._lock_org = lock_after_both_started
    try:
        threads = [
            threading.Thread(target=demote, args=("a", a, mb)),
            threading.Thread(target=demote, args=("b", b, ma)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        services._lock_org = real_lock

    assert set(outcomes) == {"a", "b"}
    owners = Membership.objects.filter(organization=org, role=Role.OWNER).count()
    assert owners == 1 if "ok" in outcomes.values() else owners == 2
    assert owners >= 1
    refused = [o for o in outcomes.values() if o != "ok"]
    assert len(refused) >= 1
    if connection.vendor == "postgresql":
        # The row lock serialises them: the second sees that its actor is now an admin.
        assert sorted(map(str, outcomes.values())) == sorted(
            ["ok", "Only an owner can change or remove an owner."]
        )
        assert all(isinstance(o, services.ApplicationError) and o.status == 403 for o in refused)
        assert events(org, "member.role_changed").count() == 1
    else:
        # SQLite has no row locks; its single writer lock makes the loser fail outright
        # (or, if the threads did not overlap, the guard refuses it) — never both win.
        assert events(org, "member.role_changed").count() == len(outcomes) - len(refused)
