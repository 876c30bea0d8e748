"""A refused SSO sign-in is stored as a reason code: the audit log and the connection
test's result page show it in the language of whoever reads them, not of the request that
received the identity provider's answer."""

import datetime as dt

import pytest
from django.utils import timezone, translation
from django.utils.html import escape

from hypereal_site import reasons
from orgs.audit_text import audit_change_sentences
from orgs.models import AuditEvent
from sso import saml, signin
from sso.models import SsoLoginAttempt
from tests.sso.test_secrets import make_connection

pytestmark = pytest.mark.django_db


def _in(language: str, fn):
    with translation.override(language):
        return fn()


def test_each_kind_of_refusal_becomes_a_code():
    assert signin.SignInRefused("email_domain").reason_payload() == {"code": "sso_email_domain"}
    saml_refusal = signin.SignInRefused("saml_signature", str(saml._MESSAGES["signature"]))
    assert saml_refusal.reason_payload() == {"code": "saml_signature"}
    oidc_refusal = signin.SignInRefused(
        "oidc_nonce", "…", detail="oidc_nonce_mismatch", params={"x": 1}
    )
    assert oidc_refusal.reason_payload() == {"code": "oidc_nonce_mismatch", "x": 1}
    # A sentence of its own and no code: kept, in English, whatever the active language.
    custom = _in("ar", lambda: signin.SignInRefused("unknown", "Something odd happened."))
    assert _in("ar", custom.reason_payload) == {
        "code": reasons.LEGACY,
        "text": "Something odd happened.",
    }


def test_every_refusal_code_reads_in_both_languages():
    for reason, text in signin.REFUSALS.items():
        payload = signin.SignInRefused(reason).reason_payload()
        english = _in("en", lambda p=payload: reasons.reason_of(p))
        arabic = _in("ar", lambda p=payload: reasons.reason_of(p))
        assert english == _in("en", lambda t=text: str(t))
        assert arabic == _in("ar", lambda t=text: str(t)) and arabic != english, reason
    for reason in saml._MESSAGES:
        english = _in("en", lambda r=reason: reasons.reason_text(f"saml_{r}"))
        assert english == _in("en", lambda r=reason: str(saml._MESSAGES[r]))
        assert _in("ar", lambda r=reason: reasons.reason_text(f"saml_{r}")) != english


def test_a_code_cannot_be_registered_twice_with_another_sentence():
    with pytest.raises(ValueError):
        reasons.register({"sso_email_domain": "Something else."})
    reasons.register({"sso_email_domain": signin.REFUSALS["email_domain"]})  # the same: fine


def _test_attempt(connection, owner) -> SsoLoginAttempt:
    now = timezone.now()
    return SsoLoginAttempt.objects.create(
        connection=connection,
        purpose=SsoLoginAttempt.Purpose.TEST,
        started_by=owner,
        created_at=now,
        expires_at=now + dt.timedelta(minutes=10),
    )


def test_a_refusal_recorded_in_arabic_reads_in_english_and_back(org, owner, web):
    connection = make_connection(org, owner)
    attempt = _test_attempt(connection, owner)
    refusal = _in(
        "ar", lambda: signin.SignInRefused("email_domain", connection=connection, attempt=attempt)
    )
    _in("ar", lambda: signin.record_refusal(refusal))

    event = AuditEvent.objects.get(action="sso.connection_tested", actor=owner)
    assert event.after["reason"] == {"code": "sso_email_domain"}
    english = _in("en", lambda: str(signin.REFUSALS["email_domain"]))
    arabic = _in("ar", lambda: str(signin.REFUSALS["email_domain"]))
    assert any(english in s for s in _in("en", lambda: audit_change_sentences(None, event.after)))
    assert any(arabic in s for s in _in("ar", lambda: audit_change_sentences(None, event.after)))

    url = f"/settings/organization/sso/{connection.provider_id}/test/{attempt.pk}"
    client = web(owner, org)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    html = page.content.decode()
    assert escape(english) in html and escape(arabic) not in html
    owner.language = "ar"
    owner.save(update_fields=["language"])
    html = client.get(url).content.decode()
    assert escape(arabic) in html and escape(english) not in html


def test_a_refused_sign_in_is_audited_as_a_code(org, owner):
    connection = make_connection(org, owner)
    _in(
        "ar", lambda: signin.record_refusal(signin.SignInRefused("no_group", connection=connection))
    )
    event = AuditEvent.objects.get(action="sso.signin_refused")
    assert event.after["reason"] == {"code": "sso_no_group"}
    english = _in("en", lambda: str(signin.REFUSALS["no_group"]))
    assert any(english in s for s in _in("en", lambda: audit_change_sentences(None, event.after)))
