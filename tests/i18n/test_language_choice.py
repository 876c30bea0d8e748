"""Which language a page is in: the account's saved preference, then the switcher's
cookie, then Accept-Language, then English; ``<html lang dir>`` follows it."""

import re

import pytest
from django.conf import settings
from django.test import Client

from orgs.models import AuditEvent
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

HTML = re.compile(r'<html lang="([a-z-]+)" dir="(ltr|rtl)">')


def html_tag(response) -> tuple[str, str]:
    found = HTML.search(response.content.decode())
    assert found, "no <html lang dir> on the page"
    return found.group(1), found.group(2)


def test_english_without_any_hint():
    assert html_tag(Client().get("/accounts/login/")) == ("en", "ltr")


def test_accept_language_picks_arabic_for_a_visitor():
    page = Client().get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="ar,en;q=0.5")

    assert html_tag(page) == ("ar", "rtl")
    assert page["Content-Language"] == "ar"


def test_an_unknown_language_falls_back_to_english():
    assert html_tag(Client().get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr")) == ("en", "ltr")


def test_the_cookie_beats_accept_language():
    client = Client(HTTP_ACCEPT_LANGUAGE="ar")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    assert html_tag(client.get("/accounts/login/")) == ("en", "ltr")


def test_the_saved_preference_beats_cookie_and_accept_language(client_for):
    user = UserFactory(language="ar")
    client = client_for(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get("/dashboard", HTTP_ACCEPT_LANGUAGE="en")

    assert html_tag(page) == ("ar", "rtl")


def test_no_saved_preference_follows_the_browser(client_for):
    client = client_for(UserFactory(language=""))

    assert html_tag(client.get("/dashboard", HTTP_ACCEPT_LANGUAGE="ar")) == ("ar", "rtl")


def test_the_sign_in_page_switcher_sets_a_cookie_and_keeps_the_page():
    client = Client()
    page = client.get("/accounts/login/?next=/usage%3Fdays%3D7")
    assert 'action="/language"' in page.content.decode()

    response = client.post(
        "/language", {"language": "ar", "next": "/accounts/login/?next=/usage%3Fdays%3D7"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/usage%3Fdays%3D7"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ar"
    assert html_tag(client.get(response["Location"])) == ("ar", "rtl")


def test_the_header_switcher_saves_the_preference_of_a_signed_in_person(client_for):
    user = UserFactory(language="")
    client = client_for(user)
    page = client.get("/usage?days=7").content.decode()
    assert 'name="next" value="/usage?days=7"' in page  # the full path, filters included

    response = client.post("/language", {"language": "ar", "next": "/usage?days=7"})

    assert response["Location"] == "/usage?days=7"
    user.refresh_from_db()
    assert user.language == "ar"
    assert AuditEvent.objects.filter(action="account.profile_updated").latest("pk").after == {
        "language": "ar"
    }
    # Another browser with no cookie and an English Accept-Language: still Arabic.
    other = client_for(user)
    assert html_tag(other.get("/dashboard", HTTP_ACCEPT_LANGUAGE="en")) == ("ar", "rtl")


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", ""])
def test_the_switcher_never_redirects_off_site(next_url):
    response = Client().post("/language", {"language": "ar", "next": next_url})

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_an_unknown_language_changes_nothing(client_for):
    user = UserFactory(language="en")
    client = client_for(user)

    response = client.post("/language", {"language": "xx", "next": "/dashboard"})

    assert response["Location"] == "/dashboard"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    user.refresh_from_db()
    assert user.language == "en"


def test_the_switcher_only_takes_post():
    assert Client().get("/language?language=ar").status_code == 405


def test_the_account_page_saves_the_language(client_for):
    user = UserFactory(language="", name="Nadia")
    client = client_for(user)

    response = client.post(
        "/settings/account", {"name": "Nadia", "timezone": "UTC", "language": "ar"}, follow=True
    )

    user.refresh_from_db()
    assert user.language == "ar"
    assert html_tag(response) == ("ar", "rtl")
    assert 'value="ar" selected' in response.content.decode()


def test_the_account_page_refuses_an_unknown_language(client_for):
    user = UserFactory(language="en")

    response = client_for(user).post("/settings/account", {"name": "", "language": "xx"})

    assert response.status_code == 200
    assert "field--invalid" in response.content.decode()
    user.refresh_from_db()
    assert user.language == "en"


def test_error_pages_carry_lang_and_dir():
    page = Client().get("/settings/no-such-page", HTTP_ACCEPT_LANGUAGE="ar")

    assert page.status_code == 404
    assert html_tag(page) == ("ar", "rtl")
