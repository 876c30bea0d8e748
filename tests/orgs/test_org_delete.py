"""Deleting an organization: confirmed by its slug, soft, audited, and final for members."""

from django.test import Client

from orgs import services
from orgs.models import AuditEvent, Invitation, Membership, Organization

from .conftest import assert_envelope, events


def test_wrong_slug_on_the_page_is_a_field_error_and_changes_nothing(owner, org, member, web):
    member("viewer")
    audit = AuditEvent.objects.count()
    client = web(owner, org=org)

    page = client.get("/settings/organization/delete")
    assert page.status_code == 200
    response = client.post("/settings/organization/delete", {"confirm_slug": "acme"})

    assert response.status_code == 400
    assert "Type the slug “acme-inc” to confirm.".encode() in response.content
    org.refresh_from_db()
    assert org.deleted_at is None
    assert Membership.objects.filter(organization=org).count() == 2
    assert AuditEvent.objects.count() == audit


def test_wrong_slug_on_the_api_is_a_field_error(owner, org, api):
    response = api(owner).delete(f"/api/orgs/{org.public_id}", {"confirm_slug": "ACME-INC "})
    error = assert_envelope(response, 400, "validation_error")
    assert "confirm_slug" in error["fields"]
    org.refresh_from_db()
    assert org.deleted_at is None
    missing = api(owner).delete(f"/api/orgs/{org.public_id}", {})
    assert "confirm_slug" in assert_envelope(missing, 400, "validation_error")["fields"]


def test_delete_soft_deletes_ends_memberships_and_revokes_invitations(owner, org, member, api):
    dev = member("developer")
    open_invitation, token = services.invitation_create(
        organization=org, actor=owner, email="later@example.com", role="viewer"
    )
    history = AuditEvent.objects.filter(organization=org).count()
    client = api(owner)

    response = client.delete(f"/api/orgs/{org.public_id}", {"confirm_slug": "acme-inc"})

    assert response.status_code == 204
    org.refresh_from_db()
    assert org.deleted_at is not None
    assert Organization.objects.filter(pk=org.pk).exists()  # soft: the row stays
    assert not Membership.objects.filter(organization=org).exists()
    open_invitation.refresh_from_db()
    assert open_invitation.revoked_at is not None
    deleted = events(org, "org.deleted").get()
    assert deleted.actor == owner
    assert sorted(deleted.before["members"]) == sorted([owner.email, dev.user.email])
    # Its history is still there for staff: nothing was removed, one event was added.
    assert AuditEvent.objects.filter(organization=org).count() == history + 1

    assert client.get("/api/orgs").json()["organizations"] == []
    assert_envelope(client.get(f"/api/orgs/{org.public_id}"), 404, "not_found")
    assert_envelope(api(dev.user).get(f"/api/orgs/{org.public_id}/audit"), 404, "not_found")
    assert Client().get(f"/invitations/{token}").status_code == 404
    assert not Invitation.objects.filter(
        organization=org, revoked_at__isnull=True, accepted_at__isnull=True
    ).exists()


def test_a_deleted_orgs_slug_stays_taken(owner, org, api):
    """The soft-deleted row keeps its slug so links and audit history stay unambiguous."""
    services.org_delete(organization=org, actor=owner, confirm_slug="acme-inc")
    response = api(owner).post("/api/orgs", {"name": "Acme", "slug": "acme-inc"})
    assert "slug" in assert_envelope(response, 400, "validation_error")["fields"]


def test_personal_account_delete_page_points_to_account_deletion(owner, web):
    response = web(owner).get("/settings/organization/delete")
    assert response.status_code == 302
    assert response["Location"] == "/settings/account/delete"
