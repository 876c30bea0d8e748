from allauth.account.models import EmailAddress
from django.test import Client

from accounts.models import User

DELETE_URL = "/settings/account/delete"
PHRASE = "delete my account"


def test_anonymous_visitor_is_sent_to_login(db):
    for response in (Client().get(DELETE_URL), Client().post(DELETE_URL, {"confirm": PHRASE})):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_page_explains_what_will_happen(user, client_for):
    page = client_for(user).get(DELETE_URL)

    assert page.status_code == 200
    assert f'This permanently deletes <bdi dir="ltr">{user.email}</bdi>'.encode() in page.content


def test_wrong_password_is_a_field_error_and_keeps_the_account(user, client_for):
    client = client_for(user)

    response = client.post(DELETE_URL, {"password": "not-it-at-all-1", "confirm": PHRASE})

    assert response.status_code == 200
    assert b"That is not your current password." in response.content
    assert User.objects.filter(pk=user.pk).exists()
    assert client.get("/dashboard").status_code == 200


def test_wrong_phrase_is_a_field_error_and_keeps_the_account(user, password, client_for):
    client = client_for(user)

    response = client.post(DELETE_URL, {"password": password, "confirm": "delete account"})

    assert response.status_code == 200
    assert b"Type exactly &quot;delete my account&quot;." in response.content
    assert User.objects.filter(pk=user.pk).exists()


def test_post_without_fields_shows_both_field_errors(user, client_for):
    response = client_for(user).post(DELETE_URL, {})

    assert response.status_code == 200
    assert response.content.count(b"This field is required.") == 2
    assert User.objects.filter(pk=user.pk).exists()


def test_correct_password_and_phrase_delete_the_account_and_sign_out_everywhere(
    user, password, signed_in
):
    client = signed_in(user)
    other_browser = signed_in(user)

    response = client.post(DELETE_URL, {"password": password, "confirm": " Delete My Account "})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert b"Your account has been deleted." in client.get(response["Location"]).content
    assert not User.objects.filter(pk=user.pk).exists()
    assert not EmailAddress.objects.filter(email=user.email).exists()
    assert client.get("/dashboard")["Location"].startswith("/accounts/login/")
    assert other_browser.get("/dashboard")["Location"].startswith("/accounts/login/")
    # The address is free again, and the old password opens nothing.
    fresh = Client()
    fresh.post("/accounts/login/", {"login": user.email, "password": password})
    assert fresh.get("/dashboard").status_code == 302
