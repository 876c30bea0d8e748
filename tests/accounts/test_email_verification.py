from datetime import timedelta
from unittest import mock

from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.conf import settings
from django.test import Client
from django.utils import timezone

from tests.accounts.conftest import sign_in
from tests.accounts.factories import UserFactory

INVALID_LINK_TEXT = b"This email confirmation link expired or is invalid"


def confirmation_key(address: EmailAddress, *, age: timedelta) -> str:
    """The key allauth would have mailed ``age`` ago.

    allauth's HMAC key is a ``django.core.signing`` timestamped signature of the address
    id; the expiry (ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS) is checked against that
    embedded timestamp, so signing "in the past" is how a link gets old.
    """
    issued = (timezone.now() - age).timestamp()
    with mock.patch("django.core.signing.time.time", return_value=issued):
        return EmailConfirmationHMAC(address).key


def unverified_user():
    user = UserFactory(verified_email=False)
    address = EmailAddress.objects.create(user=user, email=user.email, primary=True)
    return user, address


def test_link_just_inside_the_expiry_window_still_verifies(db):
    _, address = unverified_user()
    days = settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS
    key = confirmation_key(address, age=timedelta(days=days) - timedelta(minutes=5))

    response = Client().post(f"/accounts/confirm-email/{key}/")

    assert response.status_code == 302
    address.refresh_from_db()
    assert address.verified


def test_expired_link_shows_a_clear_page_and_leaves_the_address_unverified(db, password):
    user, address = unverified_user()
    days = settings.ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS
    key = confirmation_key(address, age=timedelta(days=days, minutes=5))
    client = Client()

    page = client.get(f"/accounts/confirm-email/{key}/")
    assert page.status_code == 200
    assert INVALID_LINK_TEXT in page.content
    assert b'type="submit"' not in page.content  # no Confirm button to press

    # Posting anyway (a stale tab) changes nothing.
    client.post(f"/accounts/confirm-email/{key}/")
    address.refresh_from_db()
    assert not address.verified
    response = sign_in(client, email=user.email, password=password)
    assert response["Location"] == "/accounts/confirm-email/"


def test_reused_link_after_verification_shows_the_invalid_page_and_changes_nothing(db):
    user, address = unverified_user()
    key = confirmation_key(address, age=timedelta(0))
    client = Client()
    assert client.post(f"/accounts/confirm-email/{key}/").status_code == 302
    address.refresh_from_db()
    assert address.verified

    again = client.get(f"/accounts/confirm-email/{key}/")
    reposted = client.post(f"/accounts/confirm-email/{key}/")

    assert again.status_code == 200
    assert INVALID_LINK_TEXT in again.content
    assert reposted.status_code == 404
    assert EmailAddress.objects.filter(user=user).count() == 1
    address.refresh_from_db()
    assert address.verified and address.primary


def test_tampered_link_shows_the_invalid_page(db):
    _, address = unverified_user()
    key = confirmation_key(address, age=timedelta(0))

    page = Client().get(f"/accounts/confirm-email/{key[:-2]}xx/")

    assert INVALID_LINK_TEXT in page.content
    address.refresh_from_db()
    assert not address.verified
