import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from allauth.usersessions.models import UserSession
from django.test import Client

from tests.accounts.factories import UserFactory

SETTINGS_URL = "/settings/account"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1"


def test_settings_page_needs_sign_in(db):
    response = Client().get(SETTINGS_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_settings_page_shows_email_mfa_state_and_this_session(user, signed_in):
    client = signed_in(user, HTTP_USER_AGENT=FIREFOX)

    page = client.get(SETTINGS_URL)

    assert page.status_code == 200
    html = page.content.decode()
    assert user.email in html
    assert "Verified" in html
    assert 'Authenticator app (TOTP)</span><span class="badge">Off' in html
    assert "Firefox/128.0" in html
    assert "This session" in html
    assert "Sign out other sessions" not in html  # nothing else to sign out


def test_settings_page_shows_totp_as_on_once_activated(user, client_for):
    TOTP.activate(user, generate_totp_secret())

    html = client_for(user).get(SETTINGS_URL).content.decode()

    assert 'Authenticator app (TOTP)</span><span class="badge badge--success">On' in html


def test_sign_out_other_sessions_ends_the_other_browser_but_not_this_one(user, signed_in):
    laptop = signed_in(user, HTTP_USER_AGENT=FIREFOX)
    phone = signed_in(user, HTTP_USER_AGENT=SAFARI)
    assert phone.get("/dashboard").status_code == 200

    page = laptop.get(SETTINGS_URL).content.decode()
    assert "Firefox/128.0" in page and "Safari/604.1" in page
    assert 'action="/accounts/sessions/"' in page
    assert "Sign out other sessions" in page

    response = laptop.post("/accounts/sessions/")

    assert response.status_code == 302
    assert laptop.get("/dashboard").status_code == 200
    ended = phone.get("/dashboard")
    assert ended.status_code == 302
    assert ended["Location"].startswith("/accounts/login/")
    assert UserSession.objects.filter(user=user).count() == 1
    assert "Safari/604.1" not in laptop.get(SETTINGS_URL).content.decode()


def test_profile_name_is_saved(user, client_for):
    client = client_for(user)

    response = client.post(SETTINGS_URL, {"name": "  Ada Lovelace  "}, follow=True)

    assert response.redirect_chain == [(SETTINGS_URL, 302)]
    assert b"Profile saved." in response.content
    assert b'value="Ada Lovelace"' in response.content
    user.refresh_from_db()
    assert user.name == "Ada Lovelace"


def test_profile_name_may_be_cleared_and_the_console_falls_back_to_the_address(client_for):
    user = UserFactory(email="grace@example.com", name="Grace")
    client = client_for(user)

    response = client.post(SETTINGS_URL, {"name": "   "}, follow=True)

    assert b"Profile saved." in response.content
    user.refresh_from_db()
    assert user.name == ""
    assert b"Welcome, <bdi>grace</bdi>" in client.get("/dashboard").content


@pytest.mark.parametrize("length", [151, 400])
def test_too_long_name_shows_a_field_error_and_saves_nothing(user, client_for, length):
    before = user.name
    client = client_for(user)

    response = client.post(SETTINGS_URL, {"name": "x" * length})

    assert response.status_code == 200
    assert b"Ensure this value has at most 150 characters" in response.content
    assert b'class="field field--invalid"' in response.content
    user.refresh_from_db()
    assert user.name == before
