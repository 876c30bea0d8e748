"""Audit events are written once and never edited.

On PostgreSQL a trigger refuses UPDATE and DELETE (migration orgs/0002), except clearing
``actor_id`` when that user's account is deleted. SQLite has no such trigger, so there the
guarantee is that no code path edits events: the services only insert, and the admin
offers no change or delete. The suite runs on both backends in CI; each test asserts what
holds on the backend it runs on, and the code-path tests run on both.
"""

import re

import pytest
from django.db import ProgrammingError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from orgs import services
from orgs.admin import AuditEventAdmin
from orgs.models import AuditEvent
from tests.accounts.factories import UserFactory

from .conftest import events
from .factories import member_add, org_make

# An UPDATE or DELETE touching the audit table, in any quoting style.
EDIT = re.compile(r'^\s*(UPDATE|DELETE FROM)\s+"?orgs_auditevent"?', re.IGNORECASE)
# The one edit allowed: the FK's SET NULL when a user is deleted.
ACTOR_NULLING = re.compile(
    r'^\s*UPDATE\s+"?orgs_auditevent"?\s+SET\s+"?actor_id"?\s*=\s*NULL\s+WHERE', re.IGNORECASE
)


def run_every_service(owner):
    org = services.org_create(actor=owner, name="Flow")
    services.org_update(organization=org, actor=owner, name="Flow 2", slug="flow-2")
    dev = member_add(org, role="developer")
    co = member_add(org, role="admin")
    services.member_set_role(membership=dev, actor=owner, role="billing")
    invitation, _ = services.invitation_create(
        organization=org, actor=owner, email="p@example.com", role="viewer"
    )
    services.invitation_resend(invitation=invitation, actor=owner)
    services.invitation_revoke(invitation=invitation, actor=owner)
    services.member_remove(membership=dev, actor=owner)
    services.org_transfer_ownership(organization=org, actor=owner, to=co)
    services.member_leave(organization=org, actor=owner)
    leaver = member_add(org, role="viewer", by=co.user)
    account_services.user_delete(user=leaver.user, actor=leaver.user)
    services.org_delete(organization=org, actor=co.user, confirm_slug="flow-2")
    return org


def test_no_service_edits_or_deletes_an_event(db):
    owner = UserFactory()
    with CaptureQueriesContext(connection) as queries:
        org = run_every_service(owner)

    edits = [q["sql"] for q in queries.captured_queries if EDIT.match(q["sql"])]
    # The only edit is the database's own SET NULL of the deleted account's actor_id.
    assert all(ACTOR_NULLING.match(sql) for sql in edits), edits
    assert events(org).count() >= 14
    assert events(org, "member.left").filter(actor__isnull=True).count() == 1


def test_the_admin_cannot_add_change_or_delete_events(db, password):
    staff = UserFactory(is_staff=True, is_superuser=True)
    org = org_make()
    event = events(org).first()
    client = Client()
    client.force_login(staff)

    admin = AuditEventAdmin(AuditEvent, None)
    request = client.get("/").wsgi_request
    request.user = staff
    assert not admin.has_add_permission(request)
    assert not admin.has_change_permission(request, event)
    assert not admin.has_delete_permission(request, event)

    base = f"/admin/orgs/auditevent/{event.pk}"
    assert client.post(f"{base}/change/", {"action": "forged"}).status_code == 403
    assert client.post(f"{base}/delete/", {"post": "yes"}).status_code == 403
    assert client.post("/admin/orgs/auditevent/add/", {}).status_code == 403
    listing = client.post(
        "/admin/orgs/auditevent/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert listing.status_code < 500
    event.refresh_from_db()
    assert event.action == "org.created"
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def _refused(sql: str, params: list) -> None:
    with (
        pytest.raises(ProgrammingError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def test_the_database_refuses_edits_on_postgresql(db):
    owner = UserFactory()
    org = org_make(owner=owner)
    event = events(org, "org.created").get()

    if connection.vendor == "postgresql":
        # ERRCODE insufficient_privilege → psycopg InsufficientPrivilege, which Django
        # wraps as django.db.utils.ProgrammingError.
        _refused("UPDATE orgs_auditevent SET action = %s WHERE id = %s", ["forged", event.pk])
        _refused("DELETE FROM orgs_auditevent WHERE id = %s", [event.pk])
        _refused(  # nulling the actor while changing something else is no excuse
            "UPDATE orgs_auditevent SET actor_id = NULL, actor_label = %s WHERE id = %s",
            ["nobody", event.pk],
        )
        with pytest.raises(ProgrammingError), transaction.atomic():
            AuditEvent.objects.filter(pk=event.pk).update(after={"forged": True})
        with pytest.raises(ProgrammingError), transaction.atomic():
            event.delete()
        # The one allowed change: clearing the actor and nothing else.
        with connection.cursor() as cursor:
            cursor.execute("UPDATE orgs_auditevent SET actor_id = NULL WHERE id = %s", [event.pk])
        event.refresh_from_db()
        assert event.actor_id is None
        assert (event.action, event.actor_label) == ("org.created", owner.email)
    else:
        # No trigger here; what stands between events and an edit is the code: the admin
        # has no change or delete, and the services never update (see the tests above).
        admin = AuditEventAdmin(AuditEvent, None)
        assert not admin.has_change_permission(None, event)
        assert not admin.has_delete_permission(None, event)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND sql LIKE %s",
                ["%orgs_auditevent%"],
            )
            assert cursor.fetchone()[0] == 0  # as documented: SQLite relies on the code
        event.refresh_from_db()
        assert event.action == "org.created"


def test_deleting_a_user_keeps_their_events_with_the_actor_cleared(db):
    owner, leaver = UserFactory(), UserFactory()
    org = org_make(owner=owner)
    member_add(org, role="viewer", user=leaver)
    theirs = list(AuditEvent.objects.filter(actor=leaver).values_list("pk", flat=True))
    assert theirs  # member.joined

    account_services.user_delete(user=leaver, actor=leaver)

    kept = AuditEvent.objects.filter(pk__in=theirs)
    assert kept.count() == len(theirs)
    assert {(e.actor_id, e.actor_label) for e in kept} == {(None, leaver.email)}
