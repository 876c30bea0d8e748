"""The context switcher: whose data the console shows, and what happens when access ends."""

import re

from django.contrib.messages import constants, get_messages

from orgs import services
from orgs.context import SESSION_KEY
from orgs.models import Membership

from .factories import member_add, org_make

WARNING = "You no longer have access to that organization; you are back in your personal account."


def header(response) -> tuple[str, str]:
    """What the context switcher in the top bar says: (kind or role, name)."""
    content = response.content.decode()
    kind = re.search(r'context-switcher__kind">([^<]*)<', content)[1]
    name = re.search(r'context-switcher__name">([^<]*)<', content)[1]
    return kind.strip(), name.strip()


def test_switching_changes_the_header_and_the_section_gating(org, member, web):
    billing = member("billing")
    client = web(billing.user)

    personal = client.get("/manage-api-keys")
    assert personal.status_code == 200  # personal context: owner of a one-person account
    assert header(personal) == ("Personal", billing.user.get_short_name())

    response = client.post(
        "/context/switch", {"organization": org.public_id, "next": "/billing"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/billing"
    assert response.status_code == 200
    assert header(response) == ("Billing", "Acme Inc")
    assert b"Switched to Acme Inc." in response.content
    assert client.get("/manage-api-keys").status_code == 403

    back = client.post("/context/switch", {"organization": ""}, follow=True)
    assert b"Switched to your personal account." in back.content
    assert SESSION_KEY not in client.session
    assert client.get("/manage-api-keys").status_code == 200


def test_switch_refuses_an_offsite_next(org, owner, web):
    response = web(owner).post(
        "/context/switch", {"organization": org.public_id, "next": "//evil.example"}
    )
    assert response["Location"] == "/dashboard"


def test_switch_to_an_unknown_or_personal_or_foreign_org_is_404(org, owner, web, outsider):
    client = web(owner, org=org)
    personal = services.personal_org_get_or_create(user=owner)
    foreign = Membership.objects.get(user=outsider).organization
    for target in ("nope", personal.public_id, foreign.public_id):
        assert client.post("/context/switch", {"organization": target}).status_code == 404
        assert client.session[SESSION_KEY] == org.public_id


def test_a_removed_member_lands_in_personal_context_with_a_warning(owner, org, member, web):
    dev = member("developer")
    client = web(dev.user, org=org)
    assert header(client.get("/manage-api-keys")) == ("Developer", "Acme Inc")

    services.member_remove(membership=dev, actor=owner)

    response = client.get("/settings/organization")
    assert response.status_code == 200
    warnings = [m.message for m in get_messages(response.wsgi_request)]
    assert warnings == [WARNING]
    assert [m.level for m in get_messages(response.wsgi_request)] == [constants.WARNING]
    assert b"Acme Inc" not in response.content
    assert header(response)[0] == "Personal"
    assert owner.email.encode() not in response.content  # no member list of the old org
    assert SESSION_KEY not in client.session
    # And the org's own pages and APIs are closed to them.
    assert client.get(f"/api/orgs/{org.public_id}").status_code == 404


def test_deleting_an_org_moves_its_members_to_personal_context(owner, org, member, web):
    viewer = member("viewer")
    member_client = web(viewer.user, org=org)
    owner_client = web(owner, org=org)

    response = owner_client.post(
        "/settings/organization/delete", {"confirm_slug": "acme-inc"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/dashboard"
    assert b"Acme Inc was deleted." in response.content
    assert SESSION_KEY not in owner_client.session

    page = member_client.get("/billing")
    assert page.status_code == 200
    assert WARNING in [m.message for m in get_messages(page.wsgi_request)]
    assert b"Acme Inc" not in page.content


def test_leaving_goes_back_to_personal_context(org, member, web):
    dev = member("developer")
    client = web(dev.user, org=org)

    response = client.post("/settings/organization/leave", follow=True)

    assert response.redirect_chain[-1][0] == "/dashboard"
    assert b"You left Acme Inc." in response.content
    assert SESSION_KEY not in client.session
    assert not Membership.objects.filter(pk=dev.pk).exists()


def test_the_switcher_lists_only_the_users_team_orgs(owner, org, web):
    other = org_make(name="Zeta Labs")
    member_add(other, role="viewer", user=owner)
    org_make(name="Not Mine")

    menu = web(owner).get("/dashboard").content.decode()

    assert org.public_id in menu
    assert other.public_id in menu
    assert "Not Mine" not in menu


def test_personal_settings_page_lists_memberships_and_offers_create(owner, org, web):
    page = web(owner).get("/settings/organization")
    assert page.status_code == 200
    assert b"Acme Inc" in page.content
    assert b'action="/settings/organization/create"' in page.content
