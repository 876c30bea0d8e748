"""Secrets at rest: Fernet under FIELD_ENCRYPTION_KEYS, the first key encrypts, a wrong key
raises (never hands back the stored text), ``rotate_field_keys`` re-encrypts, and the client
secret appears in no API answer, no log line and no ``dumpdata``."""

import io
import json
import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from hypereal_site import crypto
from sso import services
from sso.models import SsoConnection
from sso.selectors import connection_client_secret
from tests.logcapture import capture_json_logs
from tests.sso.metadata import idp_metadata

pytestmark = pytest.mark.django_db

SECRET = "oidc-client-secret-Zq81xV"
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def make_connection(org, owner, secret=SECRET) -> SsoConnection:
    return services.connection_create(
        organization=org,
        actor=owner,
        type="oidc",
        domains=["example.com"],
        oidc_issuer="https://login.example.com",
        oidc_client_id="console",
        client_secret=secret,
    )


def test_round_trip_and_the_token_is_not_the_value(settings):
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    token = crypto.encrypt(SECRET)
    assert SECRET not in token and token != crypto.encrypt(SECRET)  # random IV each time
    assert crypto.decrypt(token) == SECRET


def test_a_wrong_key_raises_instead_of_returning_the_stored_text(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    token = crypto.encrypt(SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt("not-a-token")
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token[:-4] + "AAAA")  # tampered


def test_the_first_key_encrypts_and_every_key_decrypts(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    old_token = crypto.encrypt(SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    assert crypto.decrypt(old_token) == SECRET
    assert not crypto.is_current(old_token)
    new_token = crypto.encrypt(SECRET)
    assert crypto.is_current(new_token)
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    assert crypto.decrypt(new_token) == SECRET


@pytest.mark.parametrize("keys", [[], [""], ["short"], [NEW, "not base64 !!"]])
def test_malformed_keys_are_refused(keys):
    with pytest.raises(ImproperlyConfigured):
        crypto.parse_keys(keys)


def test_rotate_field_keys_reencrypts_every_value(settings, org, owner):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    connection = make_connection(org, owner)
    other = services.connection_create(
        organization=org,
        actor=owner,
        type="saml",
        domains=["saml.example.com"],
        metadata_xml=idp_metadata(),
    )
    old_token = SsoConnection.objects.get(pk=connection.pk).oidc_client_secret
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]

    out = io.StringIO()
    call_command("rotate_field_keys", "--dry-run", stdout=out)
    assert "1 of 1 encrypted values would be re-encrypted" in out.getvalue()
    assert SsoConnection.objects.get(pk=connection.pk).oidc_client_secret == old_token

    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    assert "sso.SsoConnection.oidc_client_secret: 1 of 1 re-encrypted" in out.getvalue()
    connection.refresh_from_db()
    assert connection.oidc_client_secret != old_token
    assert SsoConnection.objects.get(pk=other.pk).oidc_client_secret == ""

    settings.FIELD_ENCRYPTION_KEYS = [NEW]  # the old key can go now
    assert connection_client_secret(connection=connection) == SECRET
    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)  # nothing left to do
    assert "0 of 1 encrypted values re-encrypted" in out.getvalue()


def test_rotate_field_keys_stops_on_a_value_no_key_opens(settings, org, owner):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    make_connection(org, owner)
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command("rotate_field_keys", stdout=io.StringIO())
    with pytest.raises(crypto.DecryptionError):
        connection_client_secret(connection=SsoConnection.objects.get())


@pytest.fixture
def sql_logged():
    """Every SQL statement logged at DEBUG (``django.db.backends``), as with DEBUG on."""
    django_logger = logging.getLogger("django")
    level = django_logger.level
    django_logger.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True
    yield
    connection.force_debug_cursor = False
    django_logger.setLevel(level)


def test_the_secret_is_in_no_log_line_and_no_dumpdata(org, owner, api, sql_logged):
    body = {
        "type": "oidc",
        "issuer": "https://login.example.com",
        "clientId": "console",
        "clientSecret": SECRET,
        "domain": "example.com",
    }
    with capture_json_logs() as lines:
        response = api(owner).post(f"/api/orgs/{org.public_id}/sso", body, format="json")
        assert response.status_code == 201
        pid = response.json()["providerId"]
        url = f"/api/orgs/{org.public_id}/sso/{pid}"
        api(owner).patch(url, {"clientSecret": SECRET + "2"}, format="json")
        refused = api(owner).patch(url, {"clientSecret": SECRET, "issuer": "x"}, format="json")
        assert refused.status_code == 400  # logged as a bad request, with no body
        listed = api(owner).get(f"/api/orgs/{org.public_id}/sso")
    assert SECRET not in listed.content.decode()
    statements = [line["message"] for line in lines if "sso_ssoconnection" in line["message"]]
    assert any("INSERT" in s for s in statements) and any("UPDATE" in s for s in statements)
    assert SECRET not in json.dumps(lines)

    dump = io.StringIO()
    call_command("dumpdata", "sso", "orgs.auditevent", stdout=dump)
    rows = json.loads(dump.getvalue())
    assert any(r["model"] == "sso.ssoconnection" for r in rows)
    assert SECRET not in dump.getvalue()
    stored = next(r for r in rows if r["model"] == "sso.ssoconnection")
    assert crypto.decrypt(stored["fields"]["oidc_client_secret"]) == SECRET + "2"
