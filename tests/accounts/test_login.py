from django.test import Client, override_settings

from tests.accounts.conftest import sign_in
from tests.accounts.factories import UserFactory

WRONG = "not-my-password-at-all"
LOCKED_OUT = b"Too many failed login attempts"


def test_wrong_password_shows_an_error_and_opens_no_session(user):
    client = Client()

    response = sign_in(client, email=user.email, password=WRONG)

    assert response.status_code == 200
    assert b"The email address and/or password you specified are not correct." in response.content
    assert client.get("/dashboard").status_code == 302


def test_right_password_lands_on_the_dashboard(user, password):
    client = Client()

    response = sign_in(client, email=user.email, password=password)

    assert response["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200


def test_five_failures_lock_the_account_even_against_the_right_password(user, password):
    for _ in range(5):
        response = sign_in(Client(), email=user.email, password=WRONG)
        assert LOCKED_OUT not in response.content

    # allauth answers the lockout with a form error on the login page (not a 429).
    client = Client()
    response = sign_in(client, email=user.email, password=password)
    assert response.status_code == 200
    assert LOCKED_OUT in response.content
    assert client.get("/dashboard").status_code == 302


def test_lockout_is_per_account_whatever_case_the_address_is_typed_in(user, password):
    for _ in range(5):
        sign_in(Client(), email=user.email.upper(), password=WRONG)

    response = sign_in(Client(), email=user.email, password=password)

    assert LOCKED_OUT in response.content


@override_settings(ALLOWED_HOSTS=["localhost"])
def test_lockout_cannot_be_dodged_by_changing_the_host_header(user, password):
    # ALLOWED_HOSTS ignores the port, so every port is a different Host to the server.
    for port in range(8001, 8006):
        sign_in(Client(), email=user.email, password=WRONG, HTTP_HOST=f"localhost:{port}")

    client = Client()
    response = sign_in(client, email=user.email, password=password, HTTP_HOST="localhost:9000")

    assert LOCKED_OUT in response.content
    assert client.get("/dashboard", HTTP_HOST="localhost:9000").status_code == 302


def test_lockout_of_one_account_does_not_lock_another(user, password):

    other = UserFactory()
    for _ in range(5):
        sign_in(Client(), email=user.email, password=WRONG)

    response = sign_in(Client(), email=other.email, password=password)

    assert response.status_code == 302
    assert response["Location"] == "/dashboard"


def test_too_many_failures_from_one_ip_are_refused(user, password):

    # 10 failures a minute per IP, spread over accounts so no single account locks.
    victims = [UserFactory() for _ in range(5)]
    for victim in victims:
        for _ in range(2):
            sign_in(Client(), email=victim.email, password=WRONG)

    response = sign_in(Client(), email=user.email, password=password)

    assert LOCKED_OUT in response.content
