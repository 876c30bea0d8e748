"""Deleting an account that belongs to organizations."""

import pytest

from accounts import services as account_services
from accounts.models import User
from orgs import services
from orgs.models import AuditEvent, Membership, Organization

from .conftest import events
from .factories import org_make

DELETE_URL = "/settings/account/delete"
PHRASE = "delete my account"


def test_the_last_owner_cannot_delete_their_account(owner, org, web, password):
    client = web(owner)

    page = client.get(DELETE_URL)
    assert b"You are the last owner of Acme Inc." in page.content
    assert b"Delete my account" not in page.content

    response = client.post(DELETE_URL, {"password": password, "confirm": PHRASE})
    assert response.status_code == 200
    assert User.objects.filter(pk=owner.pk).exists()

    with pytest.raises(account_services.ApplicationError) as exc:
        account_services.user_delete(user=owner, actor=owner)
    assert exc.value.status == 409
    assert "Acme Inc" in exc.value.message
    assert Membership.objects.filter(user=owner).exists()


def test_after_transferring_ownership_the_account_goes_and_history_stays(
    owner, org, member, web, password
):
    successor = member("admin")
    services.org_transfer_ownership(organization=org, actor=owner, to=successor)
    personal = services.personal_org_get_or_create(user=owner)
    services.org_update(organization=org, actor=owner, name="Acme Renamed")  # now an admin
    owner_email, owner_pk = owner.email, owner.pk
    actions_by_owner = list(
        AuditEvent.objects.filter(organization=org, actor=owner).values_list("pk", flat=True)
    )
    assert len(actions_by_owner) >= 3  # created, joined, transferred, renamed
    client = web(owner)

    response = client.post(DELETE_URL, {"password": password, "confirm": PHRASE})

    assert response.status_code == 302
    assert not User.objects.filter(pk=owner_pk).exists()
    kept = AuditEvent.objects.filter(pk__in=actions_by_owner)
    assert kept.count() == len(actions_by_owner)
    assert set(kept.values_list("actor", flat=True)) == {None}
    assert set(kept.values_list("actor_label", flat=True)) == {owner_email}
    left = events(org, "member.left").get()
    assert left.actor_label == owner_email
    assert left.after == {"reason": "account deleted"}
    assert [m.user for m in Membership.objects.filter(organization=org)] == [successor.user]
    personal.refresh_from_db()
    assert personal.deleted_at is not None
    assert personal.personal_for is None
    org.refresh_from_db()
    assert org.deleted_at is None


def test_a_co_owner_may_delete_their_account(owner, org, member):
    co = member("owner")
    account_services.user_delete(user=co.user, actor=co.user)
    assert Membership.objects.filter(organization=org, role="owner").get().user == owner


def test_deleting_an_account_without_orgs_soft_deletes_the_personal_org(user):
    personal = services.personal_org_get_or_create(user=user)
    org_make(name="Someone Else's")
    account_services.user_delete(user=user, actor=user)
    personal.refresh_from_db()
    assert personal.deleted_at is not None
    assert Organization.objects.filter(kind="team", deleted_at__isnull=True).count() == 1
