from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client, override_settings

from accounts.models import User
from tests.accounts.conftest import can_sign_in, only_link, path_of
from tests.accounts.factories import UserFactory

SITE = "https://console.example.test"
EMAIL_URL = "/accounts/email/"


def addresses(user) -> dict[str, tuple[bool, bool]]:
    """``{email: (primary, verified)}`` for the user's addresses."""
    return {a.email: (a.primary, a.verified) for a in EmailAddress.objects.filter(user=user)}


@override_settings(SITE_URL=SITE)
def test_new_address_becomes_primary_only_once_its_link_is_confirmed(user, password, signed_in):
    old = user.email
    client = signed_in(user)

    response = client.post(EMAIL_URL, {"action_add": "", "email": "New.Address@Example.com"})

    assert response.status_code == 302
    assert addresses(user) == {old: (True, True), "new.address@example.com": (False, False)}
    user.refresh_from_db()
    assert user.email == old
    page = client.get(EMAIL_URL)
    assert b"pending verification" in page.content
    # The old address still signs in; the new one does not yet.
    assert can_sign_in(email=old, password=password)
    assert not can_sign_in(email="new.address@example.com", password=password)

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["new.address@example.com"]
    link = only_link(mail.outbox[0])
    assert link.startswith(f"{SITE}/accounts/confirm-email/")
    assert client.post(path_of(link)).status_code == 302

    assert addresses(user) == {"new.address@example.com": (True, True)}
    user.refresh_from_db()
    assert user.email == "new.address@example.com"
    settings_page = client.get("/settings/account")
    assert b"new.address@example.com" in settings_page.content
    assert can_sign_in(email="new.address@example.com", password=password)
    assert not can_sign_in(email=old, password=password)


def test_changing_to_another_accounts_address_never_takes_it_over(user, signed_in):
    other = UserFactory(email="taken@example.com")
    client = signed_in(user)

    # allauth hides whether the address is taken: the form "succeeds" and the
    # address's owner receives a link...
    client.post(EMAIL_URL, {"action_add": "", "email": "TAKEN@example.com"})
    assert [m.to for m in mail.outbox] == [["taken@example.com"]]
    link = only_link(mail.outbox[0])

    # ...which, even if they follow it, cannot move the address to the other account.
    page = client.get(path_of(link))
    assert b"already confirmed by a different account" in page.content
    client.post(path_of(link))

    other.refresh_from_db()
    user.refresh_from_db()
    assert other.email == "taken@example.com"
    assert addresses(other) == {"taken@example.com": (True, True)}
    assert user.email != "taken@example.com"
    assert addresses(user)[user.email] == (True, True)
    assert not EmailAddress.objects.filter(user=user, email="taken@example.com", verified=True)


def test_address_pending_on_one_account_cannot_be_signed_up_by_another(user, signed_in):
    client = signed_in(user)
    client.post(EMAIL_URL, {"action_add": "", "email": "pending@example.com"})
    link = only_link(mail.outbox[0])
    users_before = User.objects.count()

    Client().post(
        "/accounts/signup/",
        {
            "email": "pending@example.com",
            "password1": "quartz-lagoon-ember-58",
            "password2": "quartz-lagoon-ember-58",
        },
    )
    assert User.objects.count() == users_before

    # Confirming the pending change afterwards still works, without a clash.
    assert client.post(path_of(link))["Location"] == "/dashboard"
    user.refresh_from_db()
    assert user.email == "pending@example.com"
    assert addresses(user) == {"pending@example.com": (True, True)}


def test_email_page_needs_sign_in(db):
    response = Client().get(EMAIL_URL)

    assert response["Location"].startswith("/accounts/login/")
