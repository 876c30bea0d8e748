"""A whole session's log holds no secret: sign-up, email verification, password reset,
invitation (its link URL-encoded into ``?next=``), key creation. Every record any logger
writes is captured through the production formatter, and each request line is also logged
the way ``runserver`` (``django.server``) and an access log write it: with the raw path
and query string."""

import json
import logging
from urllib.parse import quote, urlsplit

import pytest
from django.core import mail
from django.test import Client, override_settings

from hypereal_site.logging import redact
from orgs.models import Membership
from tests.accounts.conftest import only_link
from tests.accounts.factories import UserFactory
from tests.logcapture import capture_json_logs
from tests.orgs.factories import org_make

pytestmark = pytest.mark.django_db

SITE = "https://console.example.test"
PASSWORD = "granite-lantern-orbit-58"
NEW_PASSWORD = "copper-meadow-signal-71"

server_log = logging.getLogger("django.server")


class LoggingClient(Client):
    """A test client that also logs each request line as ``runserver`` does."""

    def request(self, **environ):
        response = super().request(**environ)
        line = quote(environ["PATH_INFO"], safe="/:@-._~!$&'()*+,;=")
        if environ.get("QUERY_STRING"):
            line += "?" + environ["QUERY_STRING"]
        server_log.info(
            '"%s %s HTTP/1.1" %s %s',
            environ["REQUEST_METHOD"],
            line,
            response.status_code,
            len(getattr(response, "content", b"") if not response.streaming else b""),
            extra={"status_code": response.status_code},
        )
        return response


def _path(url: str) -> str:
    return urlsplit(url).path


@override_settings(SITE_URL=SITE)
def test_a_whole_session_logs_no_secret(django_capture_on_commit_callbacks):
    secrets: list[str] = []
    browser = LoggingClient()
    with capture_json_logs() as lines:
        # Sign up and verify the address.
        signed_up = browser.post(
            "/accounts/signup/",
            {"email": "ada@example.com", "password1": PASSWORD, "password2": PASSWORD},
        )
        assert signed_up.status_code == 302
        verify = _path(only_link(mail.outbox.pop()))
        secrets.append(verify.rstrip("/").rsplit("/", 1)[-1])
        assert browser.get(verify).status_code == 200
        assert browser.post(verify).status_code == 302
        browser.get(verify + "x/")  # a mistyped link: a 404 Django logs with its path

        # Forget the password, reset it from the emailed link.
        assert (
            browser.post("/accounts/password/reset/", {"email": "ada@example.com"}).status_code
            == 302
        )
        reset = _path(only_link(mail.outbox.pop()))
        secrets.append(reset.rstrip("/").rsplit("/", 1)[-1])
        form = browser.get(reset, follow=True)
        set_url = form.redirect_chain[-1][0]
        done = browser.post(set_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
        assert done.status_code == 302
        browser.get(reset)  # the used link again

        # Someone invites Ada; she opens the link signed out, signs in, accepts.
        owner_browser = LoggingClient()
        owner = UserFactory()
        org = org_make(owner=owner, name="Logs Inc")
        owner_browser.force_login(owner)
        with django_capture_on_commit_callbacks(execute=True):  # the email goes on commit
            invited = owner_browser.post(
                f"/api/orgs/{org.public_id}/invitations",
                {"email": "ada@example.com", "role": "developer"},
                content_type="application/json",
            )
        assert invited.status_code == 201, invited.content
        accept = _path(only_link(mail.outbox.pop()))
        token = accept.rsplit("/", 1)[-1]
        secrets.append(token)
        stranger = LoggingClient()
        assert stranger.get(accept).status_code == 200
        encoded = quote(accept, safe="")
        stranger.post(f"/accounts/login/?next={encoded}", {"login": "x@example.com"})
        stranger.post(f"/invitations/{token}")  # no CSRF token: Django logs a 403
        logged_in = browser.post(
            f"/accounts/login/?next={encoded}",
            {"login": "ada@example.com", "password": NEW_PASSWORD, "next": accept},
        )
        assert logged_in.status_code == 302
        assert browser.post(accept).status_code == 302
        assert Membership.objects.filter(organization=org, user__email="ada@example.com")

        # Create a key (a developer must cap it); use it wrongly once so the refusal is logged.
        created = browser.post(
            "/api/api-keys",
            {"name": "logs", "spendingLimit": 100},
            content_type="application/json",
        )
        assert created.status_code == 201, created.content
        plaintext = created.json()["key"]
        secrets.append(plaintext)
        LoggingClient().get(f"/v1/key?key={plaintext}x")
        LoggingClient().get("/v1/key", HTTP_AUTHORIZATION=f"Bearer {plaintext}")

        secrets.append(browser.cookies["sessionid"].value)

    loggers = {line["logger"] for line in lines}
    assert {"django.server", "django.request"} <= loggers, loggers
    assert len([line for line in lines if line["logger"] == "django.server"]) >= 15
    text = json.dumps(lines, ensure_ascii=False)
    for secret in secrets:
        assert len(secret) >= 8, secret
        for form in {secret, quote(secret, safe=""), quote(quote(secret, safe=""), safe="")}:
            assert form not in text, (form, [line for line in lines if form in json.dumps(line)])
    for password in (PASSWORD, NEW_PASSWORD):
        assert password not in text
    # The lines still say which routes were hit.
    assert "/accounts/password/reset/key/[redacted]" in text
    assert "/invitations/[redacted]" in text
    assert "/accounts/confirm-email/[redacted]" in text


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("GET /accounts/password/reset/key/1-cb3x9q-0a1b2c3d4e5f/ HTTP/1.1", "cb3x9q-0a1b2c3d4e5f"),
        ("GET /accounts/login/?next=%2Finvitations%2Fs3cr3t-t0ken HTTP/1.1", "s3cr3t-t0ken"),
        ("GET /accounts/login/?next=%252Finvitations%252Fs3cr3t-t0ken", "s3cr3t-t0ken"),
        ("GET /accounts/confirm-email/MQ:1vY2:abcdefgh/ HTTP/1.1", "MQ:1vY2:abcdefgh"),
        ("GET /x?token=abcdef123456&y=1", "abcdef123456"),
    ],
)
def test_redact_masks_by_route_and_after_decoding(line, secret):
    masked = redact(line)
    assert secret not in masked
    assert quote(secret, safe="") not in masked
    assert "[redacted]" in masked
