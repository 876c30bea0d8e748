import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.db import IntegrityError
from django.test import Client, override_settings

from accounts.models import User
from tests.accounts.conftest import only_link, path_of, sign_in
from tests.accounts.factories import UserFactory

SIGNUP_URL = "/accounts/signup/"
SITE = "https://console.example.test"
GOOD_PASSWORD = "plum-orbit-cascade-71"


def sign_up(client: Client, *, email: str, password: str = GOOD_PASSWORD, **extra):
    return client.post(
        SIGNUP_URL, {"email": email, "password1": password, "password2": password}, **extra
    )


@pytest.mark.django_db
@override_settings(SITE_URL=SITE, ALLOWED_HOSTS=["*"])
def test_signup_sends_verification_link_on_the_canonical_site_not_the_host_header():
    client = Client()
    response = sign_up(client, email="new@example.com", HTTP_HOST="attacker.example.org")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new@example.com"]
    assert only_link(message).startswith(f"{SITE}/accounts/confirm-email/")
    # The client-controlled Host must not reach the mail at all, not even as text.
    assert "attacker.example.org" not in message.body
    assert "attacker.example.org" not in message.subject


@pytest.mark.django_db
@override_settings(SITE_URL=SITE)
def test_unverified_user_cannot_sign_in_until_the_link_is_confirmed():
    client = Client()
    sign_up(client, email="new@example.com")
    link = only_link(mail.outbox[0])

    # Mandatory verification: the password is right, but no session is opened.
    too_early = Client()
    response = sign_in(too_early, email="new@example.com", password=GOOD_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert too_early.get("/dashboard")["Location"].startswith("/accounts/login/")

    # Opening the link only shows a confirmation button; confirming is a POST.
    browser = Client()
    page = browser.get(path_of(link))
    assert page.status_code == 200
    assert b"new@example.com" in page.content
    assert not EmailAddress.objects.get(email="new@example.com").verified

    confirmed = browser.post(path_of(link))
    assert confirmed.status_code == 302
    assert EmailAddress.objects.get(email="new@example.com").verified

    response = sign_in(browser, email="new@example.com", password=GOOD_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/dashboard"
    assert browser.get("/dashboard").status_code == 200


def test_signup_with_an_existing_address_in_another_case_creates_no_second_user(db):
    UserFactory(email="alice@example.com")
    before = User.objects.count()

    response = sign_up(Client(), email="Alice@Example.com")

    # Enumeration is prevented: the page looks like success, the owner gets a notice.
    assert response.status_code == 302
    assert User.objects.count() == before
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    assert "already exists" in mail.outbox[0].body


def test_database_refuses_the_same_address_in_another_case(db):
    UserFactory(email="alice@example.com")
    with pytest.raises(IntegrityError):
        # Bypass the manager's normalisation: only the database constraint is left.
        User(email="ALICE@example.com").save()


def test_sign_in_is_case_insensitive(db, password):
    UserFactory(email="alice@example.com")
    client = Client()

    response = sign_in(client, email="ALICE@example.com", password=password)

    assert response.status_code == 302
    assert response["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("k7#pQ", b"too short"),
        ("password123", b"too common"),
        ("8301947265193", b"entirely numeric"),
    ],
)
def test_weak_password_is_refused_with_a_field_error(db, password, message):
    response = sign_up(Client(), email="weak@example.com", password=password)

    assert response.status_code == 200
    assert message in response.content
    assert not User.objects.filter(email="weak@example.com").exists()
    assert mail.outbox == []
