"""Inviting teammates, and what the link in the email does for each kind of visitor."""

import hashlib
import re
from datetime import timedelta
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from orgs import services
from orgs.models import Invitation, Membership, Organization
from tests.accounts.conftest import only_link
from tests.accounts.factories import UserFactory

from .conftest import assert_envelope, events
from .factories import member_add

SITE = "https://console.example.test"
GOOD_PASSWORD = "plum-orbit-cascade-71"


def invite(org, owner, email="new@example.com", role="developer"):
    return services.invitation_create(organization=org, actor=owner, email=email, role=role)


def link_path(token: str) -> str:
    return f"/invitations/{token}"


# --- members and inviting -----------------------------------------------------------------


def test_members_list_shows_everyone_with_opaque_ids(owner, org, member, api):
    dev = member("developer")
    response = api(dev.user).get(f"/api/orgs/{org.public_id}/members")

    assert response.status_code == 200
    members = {m["email"]: m for m in response.json()["members"]}
    assert set(members) == {owner.email, dev.user.email}
    assert members[dev.user.email]["role"] == "developer"
    assert members[dev.user.email]["id"] == dev.public_id
    assert members[dev.user.email]["user_id"] == dev.user.public_id


@override_settings(SITE_URL=SITE)
def test_invite_emails_a_link_after_commit_and_stores_only_the_token_hash(
    owner, org, api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api(owner).post(
            f"/api/orgs/{org.public_id}/invitations",
            {"email": "New.Person@Example.com", "role": "billing"},
            format="json",
        )
        assert mail.outbox == []  # nothing leaves before the transaction commits

    assert response.status_code == 201, response.content
    assert len(callbacks) == 1
    body = response.json()
    assert body["email"] == "new.person@example.com"
    assert body["role"] == "billing"
    assert body["status"] == "pending"
    assert body["invited_by"] == owner.email
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.person@example.com"]
    link = only_link(message)
    assert link.startswith(f"{SITE}/invitations/")
    token = urlsplit(link).path.rsplit("/", 1)[1]
    assert token not in response.content.decode()  # the API never returns the link
    invitation = Invitation.objects.get(public_id=body["id"])
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert invitation.token_hash != token
    assert not Invitation.objects.filter(token_hash=token).exists()
    assert events(org, "member.invited").get().after == {
        "email": "new.person@example.com",
        "role": "billing",
    }


def test_invite_with_an_unknown_role_is_a_field_error(owner, org, api):
    response = api(owner).post(
        f"/api/orgs/{org.public_id}/invitations",
        {"email": "x@example.com", "role": "superuser"},
        format="json",
    )
    assert "role" in assert_envelope(response, 400, "validation_error")["fields"]
    assert not Invitation.objects.exists()


def test_inviting_an_existing_member_is_refused(owner, org, member, api):
    dev = member("developer")
    before = events(org).count()
    response = api(owner).post(
        f"/api/orgs/{org.public_id}/invitations",
        {"email": dev.user.email.upper(), "role": "viewer"},
        format="json",
    )
    error = assert_envelope(response, 400, "validation_error")
    assert "already a member" in error["fields"]["email"][0]
    assert events(org).count() == before


def test_a_second_open_invitation_for_the_same_address_in_another_case_is_refused(owner, org, api):
    invite(org, owner, email="sam@example.com")
    before = events(org).count()
    response = api(owner).post(
        f"/api/orgs/{org.public_id}/invitations",
        {"email": "SAM@Example.COM", "role": "viewer"},
        format="json",
    )
    error = assert_envelope(response, 400, "validation_error")
    assert "pending invitation" in error["fields"]["email"][0]
    assert Invitation.objects.filter(organization=org).count() == 1
    assert events(org).count() == before


def test_an_expired_invitation_makes_way_for_a_new_one(owner, org, api):
    old, _ = invite(org, owner, email="sam@example.com")
    Invitation.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = api(owner).post(
        f"/api/orgs/{org.public_id}/invitations",
        {"email": "sam@example.com", "role": "viewer"},
        format="json",
    )
    assert response.status_code == 201
    old.refresh_from_db()
    assert old.revoked_at is not None


def test_only_an_owner_may_invite_an_owner(owner, org, member, api):
    admin = member("admin")
    url = f"/api/orgs/{org.public_id}/invitations"

    refused = api(admin.user).post(url, {"email": "boss@example.com", "role": "owner"})
    assert "role" in assert_envelope(refused, 400, "validation_error")["fields"]
    assert not Invitation.objects.filter(email="boss@example.com").exists()

    by_admin = api(admin.user).post(url, {"email": "dev@example.com", "role": "admin"})
    assert by_admin.status_code == 201
    by_owner = api(owner).post(url, {"email": "boss@example.com", "role": "owner"})
    assert by_owner.status_code == 201


def test_invite_form_on_the_page_shows_field_errors(owner, org, member, web):
    dev = member("developer")
    response = web(owner, org=org).post(
        "/settings/organization/invitations", {"email": dev.user.email, "role": "viewer"}
    )
    assert response.status_code == 400
    assert f"{dev.user.email} is already a member.".encode() in response.content


def test_open_invitations_are_listed(owner, org, api):
    invitation, _ = invite(org, owner)
    response = api(owner).get(f"/api/orgs/{org.public_id}/invitations")
    assert [i["id"] for i in response.json()["invitations"]] == [invitation.public_id]


# --- resend and revoke -------------------------------------------------------------------


def test_resend_kills_the_old_link_and_mails_a_working_one(
    owner, org, api, django_capture_on_commit_callbacks
):
    invitation, old_token = invite(org, owner, email="new@example.com")
    newcomer = UserFactory(email="new@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        response = api(owner).post(
            f"/api/orgs/{org.public_id}/invitations/{invitation.public_id}/resend"
        )

    assert response.status_code == 200, response.content
    assert len(mail.outbox) == 1
    new_token = urlsplit(only_link(mail.outbox[0])).path.rsplit("/", 1)[1]
    assert new_token != old_token
    assert events(org, "invitation.resent").count() == 1

    client = Client()
    client.force_login(newcomer)
    dead = client.post(link_path(old_token))
    assert dead.status_code == 404
    assert b"not valid" in dead.content
    assert not Membership.objects.filter(organization=org, user=newcomer).exists()

    assert client.post(link_path(new_token)).status_code == 302
    assert Membership.objects.get(organization=org, user=newcomer).role == "developer"


def test_revoke_closes_the_invitation_and_its_link(owner, org, api):
    invitation, token = invite(org, owner)
    response = api(owner).delete(f"/api/orgs/{org.public_id}/invitations/{invitation.public_id}")

    assert response.status_code == 204
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert events(org, "invitation.revoked").count() == 1
    again = api(owner).delete(f"/api/orgs/{org.public_id}/invitations/{invitation.public_id}")
    assert_envelope(again, 409, "invitation_closed")
    assert events(org, "invitation.revoked").count() == 1

    page = Client().get(link_path(token))
    assert page.status_code == 410
    assert b"revoked" in page.content


def test_another_orgs_invitation_is_not_found(owner, org, api, outsider):
    theirs = Organization.objects.get(memberships__user=outsider, kind="team")
    invitation, _ = invite(theirs, outsider)
    response = api(owner).delete(f"/api/orgs/{org.public_id}/invitations/{invitation.public_id}")
    assert_envelope(response, 404, "not_found")
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


# --- accepting -----------------------------------------------------------------------------


def test_signed_in_as_the_invited_address_in_another_case_accepts(owner, org):
    _, token = invite(org, owner, email="Kim@Example.com", role="billing")
    kim = UserFactory(email="kim@example.com")
    client = Client()
    client.force_login(kim)

    page = client.get(link_path(token))
    assert page.status_code == 200
    assert b"Accept invitation" in page.content
    response = client.post(link_path(token), follow=True)

    assert response.redirect_chain[-1][0] == "/dashboard"
    assert b"Welcome to Acme Inc. Your role: Billing." in response.content
    assert Membership.objects.get(organization=org, user=kim).role == "billing"
    assert client.session["hypereal.context"] == org.public_id
    joined = events(org, "member.joined").last()
    assert joined.actor == kim
    assert joined.after["role"] == "billing"


def test_a_mismatched_account_is_told_so_and_gets_no_membership(owner, org):
    _, token = invite(org, owner, email="kim@example.com")
    other = UserFactory(email="not-kim@example.com")
    client = Client()
    client.force_login(other)

    page = client.get(link_path(token))
    assert page.status_code == 200
    assert b'This invitation is for <bdi dir="ltr">kim@example.com</bdi>' in page.content
    assert b"Accept invitation" not in page.content

    refused = client.post(link_path(token))
    assert refused.status_code == 403
    assert b"Sign in with the invited address" in refused.content
    assert not Membership.objects.filter(organization=org, user=other).exists()
    assert Invitation.objects.get(organization=org).accepted_at is None


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_expired_link_is_410(owner, org, method):
    invitation, token = invite(org, owner, email="kim@example.com")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    kim = UserFactory(email="kim@example.com")
    client = Client()
    client.force_login(kim)

    response = getattr(client, method)(link_path(token))

    assert response.status_code == 410
    assert b"This invitation has expired" in response.content
    assert not Membership.objects.filter(organization=org, user=kim).exists()


def test_expiry_is_checked_by_the_service_too(owner, org):
    _, token = invite(org, owner, email="kim@example.com")
    kim = UserFactory(email="kim@example.com")
    later = timezone.now() + services.INVITATION_TTL + timedelta(seconds=1)
    with (
        mock.patch("django.utils.timezone.now", return_value=later),
        pytest.raises(services.InvitationError) as exc,
    ):
        services.invitation_accept(token=token, user=kim)
    assert exc.value.status == 410


def test_a_revoked_link_is_410_even_for_the_invited_person(owner, org):
    invitation, token = invite(org, owner, email="kim@example.com")
    services.invitation_revoke(invitation=invitation, actor=owner)
    kim = UserFactory(email="kim@example.com")
    client = Client()
    client.force_login(kim)

    assert client.post(link_path(token)).status_code == 410
    assert not Membership.objects.filter(organization=org, user=kim).exists()


def test_a_used_link_is_409_for_anyone_else(owner, org):
    _, token = invite(org, owner, email="kim@example.com")
    kim = UserFactory(email="kim@example.com")
    services.invitation_accept(token=token, user=kim)
    other = UserFactory()
    client = Client()
    client.force_login(other)
    before = events(org).count()

    for response in (client.get(link_path(token)), client.post(link_path(token))):
        assert response.status_code == 409
        assert b"already been used" in response.content
    assert not Membership.objects.filter(organization=org, user=other).exists()
    assert events(org).count() == before


def test_opening_the_link_again_as_a_member_is_harmless_and_keeps_the_role(owner, org):
    _, token = invite(org, owner, email="kim@example.com", role="developer")
    kim = UserFactory(email="kim@example.com")
    membership = services.invitation_accept(token=token, user=kim)
    services.member_set_role(membership=membership, actor=owner, role="viewer")
    before = events(org).count()
    client = Client()
    client.force_login(kim)

    for response in (client.get(link_path(token)), client.post(link_path(token))):
        assert response.status_code == 302
        assert response["Location"] == "/dashboard"
    assert Membership.objects.get(organization=org, user=kim).role == "viewer"
    assert Membership.objects.filter(organization=org, user=kim).count() == 1
    assert events(org).count() == before


def test_a_personal_account_cannot_invite(user):
    personal = services.personal_org_get_or_create(user=user)
    with pytest.raises(services.ApplicationError):
        invite(personal, user)


def test_a_deleted_orgs_link_is_not_valid(owner, org):
    _, token = invite(org, owner, email="kim@example.com")
    services.org_delete(organization=org, actor=owner, confirm_slug=org.slug)
    assert Client().get(link_path(token)).status_code == 404


def test_anonymous_visitors_get_sign_in_and_sign_up_links_that_come_back(owner, org):
    _, token = invite(org, owner, email="kim@example.com")
    page = Client().get(link_path(token))

    assert page.status_code == 200
    content = page.content.decode()
    hrefs = re.findall(r'href="(/accounts/(?:login|signup)/[^"]*)"', content)
    targets = {urlsplit(h).path: parse_qs(urlsplit(h).query)["next"] for h in hrefs}
    assert targets == {
        "/accounts/login/": [link_path(token)],
        "/accounts/signup/": [link_path(token)],
    }
    assert "Accept invitation" not in content


@override_settings(SITE_URL=SITE)
def test_a_new_person_signs_up_from_the_link_and_comes_back_to_accept(
    owner, org, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(org, owner, email="kim@example.com", role="viewer")
    accept_path = urlsplit(only_link(mail.outbox[0])).path
    mail.outbox.clear()
    browser = Client()

    signup_url = Client().get(accept_path).content.decode()
    assert "/accounts/signup/?next=" in signup_url
    signed_up = browser.post(
        f"/accounts/signup/?next={accept_path}",
        {
            "email": "kim@example.com",
            "password1": GOOD_PASSWORD,
            "password2": GOOD_PASSWORD,
            "next": accept_path,
        },
    )
    assert signed_up.status_code == 302
    verify = urlsplit(only_link(mail.outbox[0])).path
    assert browser.post(verify).status_code == 302

    login = browser.post(
        f"/accounts/login/?next={accept_path}",
        {"login": "kim@example.com", "password": GOOD_PASSWORD, "next": accept_path},
    )
    assert login.status_code == 302
    assert login["Location"] == accept_path

    page = browser.get(accept_path)
    assert b"Accept invitation" in page.content
    assert browser.post(accept_path).status_code == 302
    kim = Membership.objects.get(organization=org, user__email="kim@example.com")
    assert kim.role == "viewer"


def test_sign_in_from_the_link_comes_back_to_it(owner, org, password):
    _, token = invite(org, owner, email="kim@example.com")
    UserFactory(email="kim@example.com")
    browser = Client()

    response = browser.post(
        f"/accounts/login/?next={link_path(token)}",
        {"login": "kim@example.com", "password": password},
    )

    assert response.status_code == 302
    assert response["Location"] == link_path(token)


def test_invitation_for_an_existing_member_added_meanwhile_keeps_the_role(owner, org):
    """The address joined by another way between invite and accept (a race the page
    cannot rule out): accepting keeps the role it has and writes nothing."""
    invitation, token = invite(org, owner, email="kim@example.com", role="admin")
    kim = UserFactory(email="kim@example.com")
    Invitation.objects.filter(pk=invitation.pk).update(revoked_at=timezone.now())
    member_add(org, role="viewer", user=kim)
    Invitation.objects.filter(pk=invitation.pk).update(revoked_at=None)
    before = events(org).count()

    membership = services.invitation_accept(token=token, user=kim)

    assert membership.role == "viewer"
    assert events(org).count() == before
