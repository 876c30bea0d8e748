from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.test import Client

from tests.accounts.conftest import sign_in, totp_code, wrong_totp_code

ACTIVATE_URL = "/accounts/2fa/totp/activate/"
MFA_LOGIN_URL = "/accounts/2fa/authenticate/"
REAUTH_URL = "/accounts/reauthenticate/"


def open_activation_page(client: Client, *, password: str):
    """allauth asks for the password again before MFA changes (a fresh sign-in does not
    count as reauthentication); answer that prompt as a person would."""
    prompt = client.get(ACTIVATE_URL)
    assert prompt["Location"] == f"{REAUTH_URL}?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F"
    resumed = client.post(prompt["Location"], {"password": password})
    assert resumed["Location"] == ACTIVATE_URL
    return client.get(ACTIVATE_URL)


def activate_totp(client: Client, *, password: str) -> str:
    """Turn TOTP on from the real page, as a person with an authenticator app would.
    Returns the secret shown on the page."""
    page = open_activation_page(client, password=password)
    assert page.status_code == 200, page
    secret = page.context["form"].secret
    assert secret.encode() in page.content  # shown for manual entry beside the QR code
    response = client.post(ACTIVATE_URL, {"code": totp_code(secret)})
    assert response.status_code == 302, response.content
    return secret


def test_activating_totp_asks_for_the_password_again(user, signed_in):
    client = signed_in(user)

    response = client.get(ACTIVATE_URL)
    assert response["Location"].startswith(REAUTH_URL)

    wrong = client.post(response["Location"], {"password": "not-the-password-1"})
    assert wrong.status_code == 200
    assert b"Incorrect password." in wrong.content
    assert client.get(ACTIVATE_URL)["Location"].startswith(REAUTH_URL)
    assert not Authenticator.objects.filter(user=user).exists()


def test_activation_with_a_wrong_code_is_refused(user, password, signed_in, totp_clock):
    client = signed_in(user)
    secret = open_activation_page(client, password=password).context["form"].secret

    response = client.post(ACTIVATE_URL, {"code": wrong_totp_code(secret)})

    assert response.status_code == 200
    assert b"Incorrect code." in response.content
    assert not Authenticator.objects.filter(user=user).exists()


def test_activation_turns_on_totp_and_generates_recovery_codes(
    user, password, signed_in, totp_clock
):
    client = signed_in(user)

    activate_totp(client, password=password)

    assert set(Authenticator.objects.filter(user=user).values_list("type", flat=True)) == {
        Authenticator.Type.TOTP,
        Authenticator.Type.RECOVERY_CODES,
    }
    page = client.get("/settings/account")
    assert b'Authenticator app (TOTP)</span><span class="badge badge--success">On' in (page.content)


def test_sign_in_with_totp_needs_the_second_factor(user, password, signed_in, totp_clock):
    secret = activate_totp(signed_in(user), password=password)
    client = Client()

    response = sign_in(client, email=user.email, password=password)
    assert response["Location"] == MFA_LOGIN_URL
    assert client.get("/dashboard").status_code == 302  # the password alone is not enough

    wrong = client.post(MFA_LOGIN_URL, {"code": wrong_totp_code(secret)})
    assert wrong.status_code == 200
    assert b"Incorrect code." in wrong.content
    assert client.get("/dashboard").status_code == 302

    right = client.post(MFA_LOGIN_URL, {"code": totp_code(secret)})
    assert right["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200


def test_a_totp_code_cannot_be_replayed(user, password, signed_in, totp_clock):
    secret = activate_totp(signed_in(user), password=password)
    first = Client()
    sign_in(first, email=user.email, password=password)
    assert first.post(MFA_LOGIN_URL, {"code": totp_code(secret)}).status_code == 302

    second = Client()
    sign_in(second, email=user.email, password=password)
    replay = second.post(MFA_LOGIN_URL, {"code": totp_code(secret)})

    assert replay.status_code == 200
    assert second.get("/dashboard").status_code == 302


def test_a_recovery_code_signs_in_once(user, password, signed_in, totp_clock):
    activate_totp(signed_in(user), password=password)
    rc = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    code = RecoveryCodes(rc).get_unused_codes()[0]

    client = Client()
    sign_in(client, email=user.email, password=password)
    assert client.post(MFA_LOGIN_URL, {"code": code})["Location"] == "/dashboard"

    again = Client()
    sign_in(again, email=user.email, password=password)
    assert again.post(MFA_LOGIN_URL, {"code": code}).status_code == 200
    assert again.get("/dashboard").status_code == 302
