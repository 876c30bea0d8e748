"""Helpers for driving allauth's real pages the way a browser would.

Tests sign in through the real login form (not ``force_login``) wherever allauth's own
records matter: the session's authentication record (needed to reauthenticate for MFA
changes) and the usersessions row (needed to sign other sessions out).
"""

import re
from unittest import mock
from urllib.parse import urlsplit

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.core import mail
from django.test import Client

LOGIN_URL = "/accounts/login/"
URL_RE = re.compile(r"https?://[^\s<>\"]+")


def links_in(message: mail.EmailMessage) -> list[str]:
    return URL_RE.findall(message.body)


def only_link(message: mail.EmailMessage) -> str:
    links = links_in(message)
    assert len(links) == 1, links
    return links[0]


def path_of(url: str) -> str:
    return urlsplit(url).path


def sign_in(client: Client, *, email: str, password: str, **extra):
    return client.post(LOGIN_URL, {"login": email, "password": password}, **extra)


# A fixed instant, mid-way through a 30-second TOTP period.
TOTP_NOW = 1_767_225_615.0


def totp_code(secret: str, *, offset: int = 0) -> str:
    """The RFC 6238 code an authenticator app shows at TOTP_NOW (``offset`` periods away)."""
    counter = int(TOTP_NOW) // 30 + offset
    return format_hotp_value(hotp_value(secret, counter))


def wrong_totp_code(secret: str) -> str:
    """A six-digit code valid in none of the nearby periods."""
    valid = {totp_code(secret, offset=i) for i in range(-2, 3)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


@pytest.fixture
def totp_clock():
    """Pins the clock allauth's TOTP check reads, so a code computed by the test can never
    fall across a period boundary between computing and checking it."""
    with mock.patch("allauth.mfa.totp.internal.auth.time") as clock:
        clock.time.return_value = TOTP_NOW
        yield clock


@pytest.fixture
def signed_in(db, password):
    """A fresh client signed in as ``user`` through the real login form."""

    def make(user, **extra) -> Client:
        client = Client(**extra)
        response = sign_in(client, email=user.email, password=password)
        assert response.status_code == 302, response.content
        return client

    return make


def can_sign_in(*, email: str, password: str) -> bool:
    """Whether a fresh browser ends up with a working session after the login form."""
    client = Client()
    sign_in(client, email=email, password=password)
    return client.get("/dashboard").status_code == 200
