from django.test import Client

from tests.accounts.conftest import sign_in

CHANGE_URL = "/accounts/password/change/"
NEW_PASSWORD = "saffron-meadow-lantern-93"


def test_change_password_keeps_the_session_and_swaps_the_credential(user, password, signed_in):
    client = signed_in(user)

    response = client.post(
        CHANGE_URL,
        {"oldpassword": password, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200  # this session stays signed in
    assert sign_in(Client(), email=user.email, password=password).status_code == 200
    assert sign_in(Client(), email=user.email, password=NEW_PASSWORD).status_code == 302


def test_change_password_with_a_wrong_current_password_changes_nothing(user, password, signed_in):
    client = signed_in(user)

    response = client.post(
        CHANGE_URL,
        {"oldpassword": "guessing-wrong-1", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert b"Please type your current password." in response.content
    assert sign_in(Client(), email=user.email, password=password).status_code == 302


def test_change_password_refuses_a_weak_new_password(user, password, signed_in):
    client = signed_in(user)

    response = client.post(
        CHANGE_URL, {"oldpassword": password, "password1": "short", "password2": "short"}
    )

    assert response.status_code == 200
    assert b"too short" in response.content
    assert sign_in(Client(), email=user.email, password="short").status_code == 200


def test_change_password_page_needs_sign_in(db):
    response = Client().get(CHANGE_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
