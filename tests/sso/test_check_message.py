"""A connection's save-time check stores its failure as the API's code (``check_reason``:
``connect``, ``issuer_mismatch``…) and its sentence as a code of hypereal_site.reasons and
its parameters, translated when shown: the connection's page and its API say it in the
reader's language whichever language the person who saved it had. Older rows holding
"<code>: <sentence>" are converted by the data migration."""

import importlib

import pytest
from django.utils import translation

from sso.checks import CheckOutcome
from sso.models import SsoConnection
from tests.migrating import latest, migrate

from .test_checks import dead_port

pytestmark = pytest.mark.django_db

OTHER = {"en": "ar", "ar": "en"}
UNREACHABLE = {
    "en": "127.0.0.1 could not be reached.",
    "ar": "تعذّر الوصول إلى \u2068127.0.0.1\u2069.",
}


def saved_under(api, org, owner, language: str) -> str:
    """An OIDC connection whose issuer does not answer, saved by a person reading
    ``language``; its provider id."""
    response = api(owner).post(
        f"/api/orgs/{org.public_id}/sso",
        {
            "domain": "example.com",
            "type": "oidc",
            "issuer": f"http://127.0.0.1:{dead_port()}",
            "clientId": "console",
            "clientSecret": "s3cret",
        },
        format="json",
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 201, response.content
    return response.json()["providerId"]


@pytest.mark.parametrize("writer", ["en", "ar"])
def test_the_row_keeps_codes_and_the_api_answers_in_the_readers_language(api, org, owner, writer):
    provider_id = saved_under(api, org, owner, writer)

    stored = SsoConnection.objects.get()
    assert (stored.check_status, stored.check_reason) == ("failed", "connect")
    assert (stored.check_detail_code, stored.check_detail_params) == (
        "unreachable",
        {"host": "127.0.0.1"},
    )
    for reader, sentence in UNREACHABLE.items():
        body = api(owner).get(
            f"/api/orgs/{org.public_id}/sso/{provider_id}", HTTP_ACCEPT_LANGUAGE=reader
        )
        check = body.json()["check"]
        assert check["reason"] == "connect"
        assert check["message"] == sentence, reader
        assert check["messageCode"] == "unreachable"
        assert check["messageParams"] == {"host": "127.0.0.1"}


@pytest.mark.parametrize("writer", ["en", "ar"])
def test_the_page_says_it_in_the_readers_language(api, web, org, owner, writer):
    provider_id = saved_under(api, org, owner, writer)
    owner.language = OTHER[writer]
    owner.save(update_fields=["language"])

    html = web(owner, org).get(f"/settings/organization/sso/{provider_id}").content.decode()

    assert UNREACHABLE[OTHER[writer]] in html and UNREACHABLE[writer] not in html


def test_a_saml_flag_is_a_code_too():
    outcome = CheckOutcome("failed", "certificate_expired", "certificate_expired")
    with translation.override("en"):
        assert outcome.message == "Every signing certificate has expired."
    with translation.override("ar"):
        assert outcome.message == "انتهت صلاحية كل شهادات التوقيع."
    assert CheckOutcome("ok").message == ""


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("127.0.0.1 could not be reached.", ("unreachable", {"host": "127.0.0.1"})),
        ("تعذّر الوصول إلى 127.0.0.1.", ("unreachable", {"host": "127.0.0.1"})),
        (
            "idp.example answered with HTTP status 500.",
            ("unexpected_status", {"host": "idp.example", "status": 500}),
        ),
        (
            "أجاب idp.example برمز حالة HTTP 404.",
            ("unexpected_status", {"host": "idp.example", "status": 404}),
        ),
        (
            "The discovery document is for another issuer (https://x.example).",
            ("issuer_mismatch", {"theirs": "https://x.example"}),
        ),
        (
            "مستند الاكتشاف يخص جهة مُصدِرة أخرى (https://x.example).",
            ("issuer_mismatch", {"theirs": "https://x.example"}),
        ),
        (
            "The discovery document lacks jwks_uri.",
            ("discovery_incomplete", {"fields": "jwks_uri"}),
        ),
        ("مستند الاكتشاف ليس كائن JSON.", ("discovery_not_object", {})),
        ("idp.example did not answer with valid JSON.", ("invalid_json", {"host": "idp.example"})),
        (
            "The identity provider offers only SHA-1, which sign-in refuses. Switch its "
            "signing algorithm (and certificate) to SHA-256.",
            ("sha1_only", {}),
        ),
        ("انتهت صلاحية كل شهادات التوقيع.", ("certificate_expired", {})),
        ("Something else.", ("legacy", {"text": "Something else."})),
        ("", ("", {})),
    ],
)
def test_the_data_migration_recognises_the_sentences_stored_before(sentence, expected):
    migration = importlib.import_module("sso.migrations.0004_check_detail_code")
    assert migration.detail_code(sentence) == expected


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_converts_the_rows(api, org, owner):
    saved_under(api, org, owner, "en")
    try:
        Old = migrate("sso", "0003_last_check_code").get_model("sso", "SsoConnection")
        Old.objects.update(check_reason="status: أجاب idp.example برمز حالة HTTP 500.")
        migrate("sso", "0004_check_detail_code")
    finally:
        latest()

    connection = SsoConnection.objects.get()
    assert connection.check_reason == "status"
    assert (connection.check_detail_code, connection.check_detail_params) == (
        "unexpected_status",
        {"host": "idp.example", "status": 500},
    )
    with translation.override("en"):
        assert connection.check_message == "idp.example answered with HTTP status 500."
