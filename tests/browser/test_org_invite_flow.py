"""An organization's first teammate, end to end in a real browser (the issue's story).

The owner creates "Acme Inc" and invites newcomer@example.com as Developer; the newcomer
signs up from the emailed link and joins; the owner makes them a Viewer; the viewer sees
API keys read-only and cannot manage members; the audit log lists all of it.

Two browser contexts (two cookie jars) play the two people against one live server.
"""

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import User
from orgs.models import Membership, Organization
from orgs.permissions import Perm, Role, role_allows
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEWCOMER = "newcomer@example.com"
NEWCOMER_PASSWORD = "a-long-and-unusual-passphrase-42"


def log_in(page, email: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In", exact=True).click()


def link_in_last_mail(site_url: str, path_pattern: str, *, to: str) -> str:
    sent = [m for m in mail.outbox if to in m.to]
    assert sent, [m.to for m in mail.outbox]
    body = sent[-1].body
    # The link names the canonical site, never whatever Host the request came with.
    match = re.search(re.escape(site_url) + path_pattern + r"\S+", body)
    assert match, body
    return match.group(0)


def context_switcher(page):
    return page.get_by_label("Switch context")


def post_as(page, path: str, form: dict):
    """A form POST from the page's session, with the CSRF token a real form would carry."""
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(
        path,
        form={"csrfmiddlewaretoken": csrf, **form},
        headers={"Referer": page.url},
        max_redirects=0,
    )


def test_owner_invites_a_developer_demotes_to_viewer_and_the_audit_log_shows_it(
    page, browser, live_server, settings, artifacts
):
    owner = UserFactory(email="owner@example.com", name="Olivia Owner")

    # --- 1. The owner signs in and creates the organization ------------------------------
    log_in(page, owner.email, DEFAULT_PASSWORD)
    page.get_by_role("heading", name=re.compile("Welcome")).wait_for()
    expect(context_switcher(page)).to_contain_text("Personal")

    page.goto("/settings/organization")
    page.get_by_role("heading", name="Create an organization").wait_for()
    page.get_by_label("Organization name").fill("Acme Inc")
    page.get_by_role("button", name="Create organization").click()

    page.get_by_role("heading", name="Acme Inc", level=1).wait_for()
    expect(page.get_by_text("Acme Inc is ready. You are its owner.")).to_be_visible()
    expect(page.get_by_text("Organization settings · your role: Owner")).to_be_visible()
    expect(context_switcher(page)).to_contain_text("Acme Inc")
    expect(context_switcher(page)).to_contain_text("Owner")
    acme = Organization.objects.get(name="Acme Inc")
    assert acme.slug == "acme-inc"

    # --- 2. The owner invites the newcomer as Developer ----------------------------------
    invite = page.locator("#invitations")
    invite.get_by_label("Email address").fill(NEWCOMER)
    invite.get_by_label("Role").select_option(label="Developer")
    invite.get_by_role("button", name="Send invitation").click()

    expect(page.get_by_text(f"Invitation sent to {NEWCOMER}.")).to_be_visible()
    pending = page.locator("#invitations table").get_by_role("row").filter(has_text=NEWCOMER)
    expect(pending).to_have_count(1)
    expect(pending).to_contain_text("Developer")
    expect(pending).to_contain_text("Pending")
    invitation_url = link_in_last_mail(settings.SITE_URL, "/invitations/", to=NEWCOMER)

    # --- 3. The newcomer signs up from the link, in a browser of their own ---------------
    newcomer_context = browser.new_context(
        viewport={"width": 1280, "height": 860}, base_url=live_server.url
    )
    try:
        guest = newcomer_context.new_page()
        guest.set_default_timeout(15_000)

        guest.goto(invitation_url)
        guest.get_by_role("heading", name="Join Acme Inc").wait_for()
        expect(guest.get_by_text(f"{owner.email} invited {NEWCOMER} to join as")).to_be_visible()
        expect(guest.get_by_role("link", name="Sign in to accept")).to_be_visible()
        expect(guest.get_by_role("button", name="Accept invitation")).to_have_count(0)

        guest.get_by_role("link", name="Sign up").click()
        guest.get_by_role("heading", name="Sign Up").wait_for()
        # The invitation hands its address to the sign-up form, which carries it along...
        invitation_path = invitation_url.removeprefix(settings.SITE_URL)
        # (The language switcher has a "next" of its own: this page, to come back to.)
        signup_next = guest.locator("form:has(input[name=password1]) input[name=next]")
        expect(signup_next).to_have_value(invitation_path)
        guest.get_by_label("Email").fill(NEWCOMER)
        guest.get_by_label("Password", exact=True).fill(NEWCOMER_PASSWORD)
        guest.get_by_label("Password (again)").fill(NEWCOMER_PASSWORD)
        guest.get_by_role("button", name="Sign Up").click()
        guest.get_by_role("heading", name="Verify Your Email Address").wait_for()

        confirm_url = link_in_last_mail(settings.SITE_URL, "/accounts/confirm-email/", to=NEWCOMER)
        guest.goto(confirm_url)
        guest.get_by_role("button", name="Confirm").click()
        guest.get_by_text("You have confirmed").wait_for()

        # ...and the session remembers the invitation across the verification step:
        # confirming ends on the login page, and signing in lands back on the invitation.
        guest.wait_for_url(re.compile(r"/accounts/login/$"))
        guest.get_by_label("Email").fill(NEWCOMER)
        guest.get_by_role("button", name="Continue").click()
        guest.get_by_label("Password").fill(NEWCOMER_PASSWORD)
        guest.get_by_role("button", name="Sign In", exact=True).click()
        guest.get_by_role("heading", name="Join Acme Inc").wait_for()
        assert guest.url.endswith(invitation_path)
        guest.get_by_role("button", name="Accept invitation").click()

        guest.wait_for_url(re.compile(r"/dashboard$"))
        expect(guest.get_by_text("Welcome to Acme Inc. Your role: Developer.")).to_be_visible()
        expect(context_switcher(guest)).to_contain_text("Acme Inc")
        expect(context_switcher(guest)).to_contain_text("Developer")
        newcomer = User.objects.get(email=NEWCOMER)
        membership = Membership.objects.get(organization=acme, user=newcomer)
        assert membership.role == Role.DEVELOPER

        # --- 4. The owner sees the new member and makes them a Viewer ---------------------
        page.reload()
        members = page.locator("#members")
        row = members.get_by_role("row").filter(has_text=NEWCOMER)
        role_select = row.get_by_label(f"Role of {NEWCOMER}")
        expect(role_select).to_have_value("developer")
        expect(page.locator("#invitations").get_by_text("No pending invitations.")).to_be_visible()
        role_select.select_option(label="Viewer")
        row.get_by_role("button", name="Change").click()
        expect(page.get_by_text(f"{NEWCOMER} is now Viewer.")).to_be_visible()
        expect(
            members.get_by_role("row").filter(has_text=NEWCOMER).get_by_label(f"Role of {NEWCOMER}")
        ).to_have_value("viewer")
        membership.refresh_from_db()
        assert membership.role == Role.VIEWER
        page.screenshot(path=str(artifacts / "org-settings.png"), full_page=True)

        # --- 5. The viewer sees keys read-only and cannot manage members ------------------
        assert not role_allows(Role.VIEWER, Perm.KEYS_MANAGE)
        assert not role_allows(Role.VIEWER, Perm.MEMBERS_MANAGE)
        assert role_allows(Role.VIEWER, Perm.BILLING_VIEW)

        guest.reload()
        expect(context_switcher(guest)).to_contain_text("Viewer")
        guest.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
        guest.get_by_role("heading", name="API keys", level=1).wait_for()
        expect(guest.get_by_text("Read-only for your role")).to_be_visible()
        expect(guest.get_by_role("button", name="Create API key")).to_have_count(0)

        guest.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
        guest.get_by_role("heading", name="Billing", level=1).wait_for()
        expect(guest.get_by_role("button", name="Top up credits")).to_have_count(0)

        guest.goto("/settings/organization")
        guest.get_by_role("heading", name="Acme Inc", level=1).wait_for()
        expect(guest.get_by_text("Organization settings · your role: Viewer")).to_be_visible()
        guest_members = guest.locator("#members")
        expect(guest_members.get_by_role("row").filter(has_text=owner.email)).to_contain_text(
            "Owner"
        )
        expect(guest_members.get_by_role("row").filter(has_text=NEWCOMER)).to_contain_text("Viewer")
        expect(guest_members.get_by_role("combobox")).to_have_count(0)
        expect(guest.get_by_role("button", name="Change")).to_have_count(0)
        expect(guest.get_by_role("button", name="Remove")).to_have_count(0)
        expect(guest.get_by_role("heading", name="Invite a teammate")).to_have_count(0)
        expect(guest.get_by_label("Email address")).to_have_count(0)

        # Hand-made requests are refused by the server, not just hidden by the page. The
        # same token is accepted where the viewer's role allows the action, so the 403s
        # below are the role check, not a CSRF failure.
        owner_membership = Membership.objects.get(organization=acme, user=owner)
        allowed = post_as(guest, "/context/switch", {"organization": acme.public_id})
        assert allowed.status == 302, allowed.status
        for path, form in [
            (f"/settings/organization/members/{owner_membership.public_id}/remove", {}),
            (
                f"/settings/organization/members/{membership.public_id}/role",
                {"role": Role.ADMIN},
            ),
            ("/settings/organization/invitations", {"email": "x@example.com", "role": "admin"}),
        ]:
            refused = post_as(guest, path, form)
            assert refused.status == 403, (path, refused.status)
            assert "Your role does not allow this." in refused.text(), path
        membership.refresh_from_db()
        assert membership.role == Role.VIEWER
        assert Membership.objects.filter(organization=acme).count() == 2
    finally:
        newcomer_context.close()

    # --- 6. The owner reads the audit log ------------------------------------------------
    page.get_by_role("link", name="Audit log").click()
    page.get_by_role("heading", name="Audit log", level=1).wait_for()
    results = page.locator("#audit-results")
    for action, who in [
        ("org.created", "Acme Inc"),
        ("member.invited", NEWCOMER),
        ("member.joined", NEWCOMER),
        ("member.role_changed", NEWCOMER),
    ]:
        row = (
            results.get_by_role("row")
            .filter(
                has=page.get_by_role("code").filter(has_text=re.compile(rf"^{re.escape(action)}$"))
            )
            .filter(has_text=who)
        )
        expect(row).to_have_count(1)
    changed = results.get_by_role("row").filter(has_text="member.role_changed")
    expect(changed).to_contain_text("Role Developer → Viewer")
    expect(changed).to_contain_text(owner.email)  # the actor
    # org.created, the owner's own member.joined, member.invited, member.joined, role change
    expect(page.get_by_text("Page 1 of 1 · 5 events", exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts / "org-audit.png"), full_page=True)

    page.get_by_label("Action").fill("member.role")
    page.get_by_role("button", name="Filter").click()
    expect(results.locator("tbody").get_by_role("row")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"[?&]action=member\.role(&|$)"))  # shareable
    expect(results.locator("tbody")).to_contain_text("member.role_changed")
    expect(results.locator("tbody")).to_contain_text(NEWCOMER)
    expect(page.get_by_text("Page 1 of 1 · 1 event", exact=True)).to_be_visible()
