from django.core import mail
from django.test import Client, override_settings

from tests.accounts.conftest import only_link, path_of, sign_in

SITE = "https://console.example.test"
RESET_URL = "/accounts/password/reset/"
NEW_PASSWORD = "violet-harbour-engine-42"


def request_reset(client: Client, *, email: str, **extra):
    return client.post(RESET_URL, {"email": email}, **extra)


@override_settings(SITE_URL=SITE, ALLOWED_HOSTS=["*"])
def test_reset_link_is_on_the_canonical_site_and_sets_a_new_password(user, password):
    response = request_reset(Client(), email=user.email, HTTP_HOST="attacker.example.org")

    assert response["Location"] == "/accounts/password/reset/done/"
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    link = only_link(mail.outbox[0])
    assert link.startswith(f"{SITE}/accounts/password/reset/key/")
    assert "attacker.example.org" not in mail.outbox[0].body

    # The emailed link redirects once to a tokenless URL (the key moves to the session).
    browser = Client()
    form_page = browser.get(path_of(link), follow=True)
    assert form_page.status_code == 200
    set_url = form_page.redirect_chain[-1][0]
    done = browser.post(set_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done["Location"] == "/accounts/password/reset/key/done/"

    assert sign_in(Client(), email=user.email, password=password).status_code == 200
    fresh = Client()
    assert sign_in(fresh, email=user.email, password=NEW_PASSWORD)["Location"] == "/dashboard"

    # The link is single use.
    reused = Client().get(path_of(link), follow=True)
    assert b"The password reset link was invalid" in reused.content


@override_settings(SITE_URL=SITE, ALLOWED_HOSTS=["*"])
def test_reset_for_an_unknown_address_looks_the_same_and_mails_only_canonical_links(db):
    response = request_reset(Client(), email="nobody@example.com", HTTP_HOST="attacker.example.org")

    assert response["Location"] == "/accounts/password/reset/done/"
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    assert "attacker.example.org" not in body
    assert only_link(mail.outbox[0]) == f"{SITE}/accounts/signup/"


def test_sixth_reset_for_one_address_within_the_hour_is_refused(user):
    for i in range(5):
        # Vary the IP so only the per-address limit can bite.
        response = request_reset(Client(), email=user.email, REMOTE_ADDR=f"10.0.0.{i + 1}")
        assert response.status_code == 302

    response = request_reset(Client(), email=user.email.upper(), REMOTE_ADDR="10.0.0.9")

    assert response.status_code == 429
    assert b"Too many attempts" in response.content
    assert len(mail.outbox) == 5
