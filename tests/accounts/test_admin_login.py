from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.test import Client

from tests.accounts.conftest import sign_in, totp_code, wrong_totp_code
from tests.accounts.factories import UserFactory

MFA_LOGIN_URL = "/accounts/2fa/authenticate/"


def test_admin_sends_anonymous_visitors_to_the_allauth_login(db):
    response = Client().get("/admin/", follow=True)

    assert response.redirect_chain[-1][0] == "/accounts/login/?next=%2Fadmin%2F"
    assert response.status_code == 200


def test_staff_with_totp_must_give_the_second_factor_to_reach_admin(db, password, totp_clock):
    staff = UserFactory(is_staff=True, is_superuser=True)
    secret = generate_totp_secret()
    TOTP.activate(staff, secret)
    client = Client()

    response = client.post(
        "/accounts/login/?next=/admin/", {"login": staff.email, "password": password}
    )
    assert response["Location"] == MFA_LOGIN_URL
    assert client.get("/admin/")["Location"].startswith("/admin/login/")

    client.post(MFA_LOGIN_URL, {"code": wrong_totp_code(secret)})
    assert client.get("/admin/")["Location"].startswith("/admin/login/")

    response = client.post(MFA_LOGIN_URL, {"code": totp_code(secret)})
    assert response["Location"] == "/admin/"
    admin = client.get("/admin/")
    assert admin.status_code == 200
    assert b"Hypereal Console administration" in admin.content


def test_admins_own_password_form_is_not_a_way_around_the_second_factor(db, password, totp_clock):
    staff = UserFactory(is_staff=True, is_superuser=True)
    TOTP.activate(staff, generate_totp_secret())
    client = Client()

    client.post("/admin/login/", {"username": staff.email, "password": password})

    assert client.get("/admin/")["Location"].startswith("/admin/login/")


def test_non_staff_cannot_reach_admin_even_when_signed_in(user, password):
    client = Client()
    sign_in(client, email=user.email, password=password)

    response = client.get("/admin/", follow=True)

    assert response.status_code == 403
    assert b"Hypereal Console administration" not in response.content
