"""Signing in through SSO at the endpoints, against the real IdPs on loopback (saml-idp and
node-oidc-provider): the routing API, the SAML ACS and the OIDC callback, the identity
rules, JIT, group mapping, the connection test, and an attack suite in which every refused
answer leaves nothing behind (no user, membership, identity or session) but its audit event.

Tampered SAML responses are re-signed with the IdP's own key (tests/sso/test_saml.py's
helpers); tampered ID tokens are signed with the provider's own keys and handed to the
callback in place of the token endpoint's answer, after a real round trip made the attempt.
"""

import datetime as dt
import re
import time
from html import unescape

import jwt
import pytest
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.test import Client
from django.utils import timezone

from accounts.models import User
from hypereal_site import crypto
from orgs.context import SESSION_KEY
from orgs.models import AuditEvent, Membership
from orgs.permissions import Role
from sso import oidc, saml
from sso.models import SsoConnection, SsoDomain, SsoIdentity, SsoLoginAttempt, SsoReplay
from sso.signin import prune
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import join

from .test_saml import NS, _doc, _encode, _resign, _set_times, _strip_signatures

pytestmark = pytest.mark.django_db

SAML_EMAIL = "saml.jackson@example.com"
OIDC_EMAIL = "alice@corp.example"


def _verified(org, connection, name):
    return SsoDomain.objects.create(
        organization=org, name=name, connection=connection, verified_at=timezone.now()
    )


@pytest.fixture
def saml_conn(org, saml_idp):
    metadata = saml.fetch_idp_metadata(saml_idp.metadata_url)
    connection = SsoConnection.objects.create(
        organization=org,
        type="saml",
        provider_id=saml_idp.provider_id,
        saml_entity_id=metadata.entity_id,
        saml_sso_url=metadata.sso_url,
        saml_certificate=metadata.certificates[0].pem,
        jit_enabled=True,
        default_role=Role.DEVELOPER,
    )
    _verified(org, connection, "example.com")
    return connection


@pytest.fixture
def oidc_conn(org, oidc_idp):
    connection = SsoConnection.objects.create(
        organization=org,
        type="oidc",
        provider_id=oidc_idp.provider_id,
        oidc_issuer=oidc_idp.issuer,
        oidc_client_id=oidc_idp.client_id,
        oidc_client_secret=crypto.encrypt(oidc_idp.client_secret),
        jit_enabled=True,
    )
    _verified(org, connection, "corp.example")
    return connection


def _start(client, email, next_url="/dashboard"):
    response = client.post(
        "/api/auth/sso/start", {"email": email, "next": next_url}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()["redirect"]


def _acs(client, provider_id, saml_response):
    return client.post(f"/api/auth/sso/{provider_id}", {"SAMLResponse": saml_response})


def _saml_round_trip(saml_idp, client=None, email=SAML_EMAIL, next_url="/dashboard"):
    client = client or Client(enforce_csrf_checks=True)
    url = _start(client, email, next_url)
    assert url and url.startswith(saml_idp.base_url), url
    return client, saml_idp.sign_in(url)


def _idp_url(response) -> str:
    """The IdP URL of the page a form gets (a meta refresh and a link, not a 302)."""
    assert response.status_code == 200, response.content[:1000]
    html = response.content.decode()
    match = re.search(r'<a [^>]*href="([^"]+)" data-testid="idp-link"', html)
    assert match, html[:2000]
    url = unescape(match.group(1))
    assert f'content="0;url={match.group(1)}"' in html
    return url


def _state():
    return (
        User.objects.count(),
        Membership.objects.count(),
        SsoIdentity.objects.count(),
        UserSession.objects.count(),
    )


def _refused(client, response, reason, before, org):
    assert response.status_code in (403, 404), response.content[:500]
    assert response["Content-Type"].startswith("text/html")
    assert f'data-reason="{reason}"' in response.content.decode(), response.content.decode()[:3000]
    assert _state() == before, "a refused sign-in created something"
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.filter(organization=org, action="sso.signin_refused").last()
    assert event is not None and event.after["reason"]


def _signed_in_as(client, email):
    user_id = client.session.get("_auth_user_id")
    assert user_id is not None, "not signed in"
    return User.objects.get(pk=user_id, email=email)


# --- Routing ---------------------------------------------------------------------------------


def test_start_routes_a_verified_domain_to_its_idp_and_nothing_else(saml_conn, saml_idp, org):
    client = Client()
    assert _start(client, "anyone@example.com").startswith(f"{saml_idp.base_url}/saml/sso?")
    # Unknown domain, unverified claim, disabled connection: null, the same answer whether
    # or not an account exists.
    UserFactory(email="known@elsewhere.test")
    assert _start(client, "known@elsewhere.test") is None
    assert _start(client, "unknown@elsewhere.test") is None
    SsoDomain.objects.create(organization=org, name="pending.example", connection=saml_conn)
    assert _start(client, "x@pending.example") is None
    SsoConnection.objects.filter(pk=saml_conn.pk).update(enabled=False)
    assert _start(client, "anyone@example.com") is None


def test_start_is_strict_and_never_reveals_accounts(saml_conn):
    client = Client()
    response = client.post(
        "/api/auth/sso/start",
        {"email": "a@example.com", "extra": 1},
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json()["error"]["type"]
    response = client.post("/api/auth/sso/start", {}, content_type="application/json")
    assert response.status_code == 400 and "error" in response.json()
    response = client.post(
        "/api/auth/sso/start", {"email": "a\x00@example.com"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert SsoLoginAttempt.objects.count() == 0


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.test/x", "//evil.test/x", "/\\evil.test", "javascript:alert(1)", "/\x01x"],
)
def test_next_must_be_a_local_path(saml_conn, saml_idp, next_url):
    client, response = _saml_round_trip(saml_idp, next_url=next_url)
    answer = _acs(client, saml_conn.provider_id, response)
    assert answer.status_code == 302 and answer["Location"] == "/dashboard"


# --- SAML: the real round trip -------------------------------------------------------------


def test_saml_sign_in_with_jit_lands_in_the_org_at_next(saml_conn, saml_idp, org):
    client, response = _saml_round_trip(saml_idp, next_url="/settings/organization")
    answer = _acs(client, saml_conn.provider_id, response)
    assert answer.status_code == 302, answer.content[:2000]
    assert answer["Location"] == "/settings/organization"
    user = _signed_in_as(client, SAML_EMAIL)
    assert not user.has_usable_password()
    assert EmailAddress.objects.filter(user=user, email=SAML_EMAIL, verified=True).exists()
    assert Membership.objects.get(organization=org, user=user).role == Role.DEVELOPER
    identity = SsoIdentity.objects.get(user=user)
    assert (identity.connection, identity.subject) == (saml_conn, SAML_EMAIL)
    assert client.session[SESSION_KEY] == org.public_id
    # allauth's session list has it, and the login was recorded.
    assert UserSession.objects.filter(user=user).count() == 1
    assert client.session["account_authentication_methods"][-1]["method"] == "sso"
    assert client.get("/dashboard").status_code == 200
    actions = set(AuditEvent.objects.filter(organization=org).values_list("action", flat=True))
    assert {"sso.signed_in", "sso.member_provisioned", "sso.identity_linked"} <= actions
    # Sign-out works.
    client.handler.enforce_csrf_checks = False  # (the ACS needed none; the logout form has one)
    client.post("/accounts/logout/")
    assert "_auth_user_id" not in client.session


def test_acs_is_csrf_exempt_and_the_rest_of_the_api_is_not(saml_conn, saml_idp, owner):
    client, response = _saml_round_trip(saml_idp)  # enforce_csrf_checks=True, no token
    assert _acs(client, saml_conn.provider_id, response).status_code == 302
    other = Client(enforce_csrf_checks=True)
    other.force_login(owner)
    assert other.post("/api/auth/sso/start", {"email": "x@example.com"}).status_code == 403


def test_a_second_sign_in_reuses_the_identity_and_creates_nothing(saml_conn, saml_idp):
    client, response = _saml_round_trip(saml_idp)
    _acs(client, saml_conn.provider_id, response)
    before = _state()[:3]
    client2, response2 = _saml_round_trip(saml_idp)
    assert _acs(client2, saml_conn.provider_id, response2).status_code == 302
    assert _state()[:3] == before
    _signed_in_as(client2, SAML_EMAIL)


def test_sp_metadata_is_xml(saml_conn):
    response = Client().get(f"/api/auth/sso/{saml_conn.provider_id}/metadata")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/samlmetadata+xml"
    assert saml.sp_entity_id(saml_conn.provider_id) in response.content.decode()
    assert Client().get("/api/auth/sso/sso_nope/metadata").status_code == 404


# --- Identity rules --------------------------------------------------------------------------


def test_an_existing_member_is_linked_at_first_sign_in(saml_conn, saml_idp, org):
    user = UserFactory(email=SAML_EMAIL)
    join(org, Role.BILLING, user)
    client, response = _saml_round_trip(saml_idp)
    assert _acs(client, saml_conn.provider_id, response).status_code == 302
    assert _signed_in_as(client, SAML_EMAIL) == user
    assert SsoIdentity.objects.get(connection=saml_conn).user == user
    assert Membership.objects.get(organization=org, user=user).role == Role.BILLING
    assert user.has_usable_password()  # untouched


def test_an_existing_non_member_is_refused_then_can_link_after_the_password(
    saml_conn, saml_idp, org
):
    user = UserFactory(email=SAML_EMAIL)
    before = _state()
    client, response = _saml_round_trip(saml_idp)
    answer = _acs(client, saml_conn.provider_id, response)
    _refused(client, answer, "link_required", before, org)
    assert f"/sso/link/{saml_conn.provider_id}" in answer.content.decode()

    # The link step, after a password sign-in: one more trip to the IdP, same address.
    web = Client()
    web.force_login(user)
    page = web.get(f"/sso/link/{saml_conn.provider_id}")
    assert page.status_code == 200
    url = _idp_url(web.post(f"/sso/link/{saml_conn.provider_id}"))
    answer = _acs(Client(), saml_conn.provider_id, saml_idp.sign_in(url))
    assert answer.status_code == 302
    assert SsoIdentity.objects.get(connection=saml_conn).user == user
    assert Membership.objects.filter(organization=org, user=user).exists()  # JIT on


def test_the_link_step_refuses_an_idp_that_asserts_another_address(saml_conn, saml_idp, org):
    other = UserFactory(email="someone@example.com")
    web = Client()
    web.force_login(other)
    url = _idp_url(web.post(f"/sso/link/{saml_conn.provider_id}"))
    before = _state()  # (opening the page made the personal account)
    client = Client()
    answer = _acs(client, saml_conn.provider_id, saml_idp.sign_in(url))
    _refused(client, answer, "link_mismatch", before, org)


def test_without_jit_an_unknown_person_is_refused(saml_conn, saml_idp, org):
    SsoConnection.objects.filter(pk=saml_conn.pk).update(jit_enabled=False)
    before = _state()
    client, response = _saml_round_trip(saml_idp)
    _refused(client, _acs(client, saml_conn.provider_id, response), "no_account", before, org)


def test_the_same_subject_at_another_connection_is_another_identity(
    saml_conn, saml_idp, org, owner
):
    from tests.apikeys.factories import team  # noqa: PLC0415 - only this test needs a 2nd org

    client, response = _saml_round_trip(saml_idp)
    _acs(client, saml_conn.provider_id, response)
    user = _signed_in_as(client, SAML_EMAIL)
    other_org = team(UserFactory(), "Other")
    other = SsoConnection.objects.create(organization=other_org, type="oidc")
    SsoIdentity.objects.create(connection=other, subject=SAML_EMAIL, user=UserFactory())
    assert SsoIdentity.objects.filter(subject=SAML_EMAIL).count() == 2
    assert SsoIdentity.objects.get(connection=saml_conn).user == user


def test_group_mapping_changes_and_removes_the_role_at_each_sign_in(saml_conn, saml_idp, org):
    SsoConnection.objects.filter(pk=saml_conn.pk).update(
        attribute_groups="groups",
        group_role_mapping={"Engineering": Role.DEVELOPER, "Admins": Role.ADMIN},
    )

    def with_groups(groups):
        def mutate(doc):
            from lxml import etree  # noqa: PLC0415 - only this helper builds XML

            statement = doc.find("saml:Assertion/saml:AttributeStatement", NS)
            for old in statement.xpath("saml:Attribute[@Name='groups']", namespaces=NS):
                statement.remove(old)
            attribute = etree.SubElement(statement, f"{{{NS['saml']}}}Attribute", Name="groups")
            for group in groups:
                value = etree.SubElement(attribute, f"{{{NS['saml']}}}AttributeValue")
                value.text = group

        client, response = _saml_round_trip(saml_idp)
        return client, _acs(client, saml_conn.provider_id, _resign(saml_idp, response, mutate))

    client, answer = with_groups(["Engineering"])
    assert answer.status_code == 302
    user = _signed_in_as(client, SAML_EMAIL)
    assert Membership.objects.get(organization=org, user=user).role == Role.DEVELOPER
    client, answer = with_groups(["Engineering", "Admins"])
    assert Membership.objects.get(organization=org, user=user).role == Role.ADMIN
    assert AuditEvent.objects.filter(action="sso.role_changed_by_groups").count() == 1
    client, answer = with_groups(["Marketing"])
    assert answer.status_code == 403
    assert not Membership.objects.filter(organization=org, user=user).exists()
    assert AuditEvent.objects.filter(action="sso.member_removed_by_groups").count() == 1
    assert "_auth_user_id" not in client.session


# --- The SAML attack suite -----------------------------------------------------------------


@pytest.fixture
def attack(saml_conn, saml_idp, org):
    """A fresh real response (its attempt open), and what must stay unchanged."""
    client, response = _saml_round_trip(saml_idp)
    return client, response, _state()


def test_unsigned_assertion_is_refused(saml_conn, org, attack):
    client, response, before = attack
    doc = _doc(response)
    _strip_signatures(doc)
    answer = _acs(client, saml_conn.provider_id, _encode(doc))
    _refused(client, answer, "saml_signature", before, org)


def test_an_assertion_altered_after_signing_is_refused(saml_conn, org, attack):
    client, response, before = attack
    doc = _doc(response)
    for value in doc.xpath("//saml:AttributeValue", namespaces=NS):
        if value.text == SAML_EMAIL:
            value.text = "ceo@example.com"
    doc.find("saml:Assertion/saml:Subject/saml:NameID", NS).text = "ceo@example.com"
    _refused(
        client, _acs(client, saml_conn.provider_id, _encode(doc)), "saml_signature", before, org
    )


def test_a_replayed_response_is_refused(saml_conn, saml_idp, org):
    client, response = _saml_round_trip(saml_idp)
    assert _acs(client, saml_conn.provider_id, response).status_code == 302
    before = _state()
    again = Client()
    _refused(again, _acs(again, saml_conn.provider_id, response), "attempt_used", before, org)


def test_a_replayed_idp_initiated_response_is_refused_by_the_replay_cache(saml_conn, saml_idp, org):
    SsoConnection.objects.filter(pk=saml_conn.pk).update(idp_initiated=True)

    def unsolicited(doc):
        doc.attrib.pop("InResponseTo", None)
        for scd in doc.xpath("//saml:SubjectConfirmationData", namespaces=NS):
            scd.attrib.pop("InResponseTo", None)

    _client, real = _saml_round_trip(saml_idp)
    response = _resign(saml_idp, real, unsolicited)
    first = Client()
    assert _acs(first, saml_conn.provider_id, response).status_code == 302
    assert SsoReplay.objects.filter(connection=saml_conn).count() == 2  # assertion + message
    before = _state()
    again = Client()
    _refused(again, _acs(again, saml_conn.provider_id, response), "replay", before, org)
    # Pruned only after its NotOnOrAfter.
    assert prune()["replays"] == 0
    assert prune(now=timezone.now() + dt.timedelta(hours=2))["replays"] == 2


def test_an_idp_initiated_response_is_refused_unless_opted_in(saml_conn, saml_idp, org, attack):
    client, response, before = attack

    def unsolicited(doc):
        doc.attrib.pop("InResponseTo", None)
        for scd in doc.xpath("//saml:SubjectConfirmationData", namespaces=NS):
            scd.attrib.pop("InResponseTo", None)

    answer = _acs(client, saml_conn.provider_id, _resign(saml_idp, response, unsolicited))
    _refused(client, answer, "unsolicited", before, org)


@pytest.mark.parametrize(
    ("where", "reason"),
    [("audience", "saml_audience"), ("destination", "saml_destination")],
)
def test_a_response_for_another_sp_is_refused(saml_conn, saml_idp, org, attack, where, reason):
    client, response, before = attack

    def mutate(doc):
        if where == "audience":
            for audience in doc.xpath("//saml:Audience", namespaces=NS):
                audience.text = "https://other-sp.example/metadata"
        else:
            doc.set("Destination", "https://other-sp.example/acs")

    answer = _acs(client, saml_conn.provider_id, _resign(saml_idp, response, mutate))
    _refused(client, answer, reason, before, org)


@pytest.mark.parametrize("when", ["expired", "not_yet_valid"])
def test_an_expired_or_not_yet_valid_response_is_refused(saml_conn, saml_idp, org, attack, when):
    client, response, before = attack
    now = dt.datetime.now(dt.UTC)
    if when == "expired":
        times = {
            "not_before": now - dt.timedelta(hours=2),
            "not_on_or_after": now - dt.timedelta(hours=1),
        }
    else:
        times = {
            "not_before": now + dt.timedelta(hours=1),
            "not_on_or_after": now + dt.timedelta(hours=2),
        }
    answer = _acs(
        client,
        saml_conn.provider_id,
        _resign(saml_idp, response, lambda doc: _set_times(doc, **times)),
    )
    _refused(client, answer, "saml_time", before, org)


def test_an_unknown_in_response_to_is_refused(saml_conn, saml_idp, org, attack):
    client, response, before = attack

    def mutate(doc):
        doc.set("InResponseTo", "_not-a-request-we-sent")
        for scd in doc.xpath("//saml:SubjectConfirmationData", namespaces=NS):
            scd.set("InResponseTo", "_not-a-request-we-sent")

    answer = _acs(client, saml_conn.provider_id, _resign(saml_idp, response, mutate))
    _refused(client, answer, "unknown_attempt", before, org)


def test_an_email_outside_the_verified_domains_is_refused(saml_conn, saml_idp, org, attack):
    client, response, before = attack
    UserFactory(email="victim@elsewhere.test")  # an account a rogue IdP would like to take
    before = _state()

    def mutate(doc):
        for value in doc.xpath("//saml:AttributeValue", namespaces=NS):
            if value.text == SAML_EMAIL:
                value.text = "victim@elsewhere.test"

    answer = _acs(client, saml_conn.provider_id, _resign(saml_idp, response, mutate))
    _refused(client, answer, "email_domain", before, org)


def test_an_expired_attempt_is_refused(saml_conn, org, attack):
    client, response, before = attack
    SsoLoginAttempt.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    _refused(client, _acs(client, saml_conn.provider_id, response), "attempt_expired", before, org)


def test_garbage_at_the_acs_is_an_html_refusal(saml_conn, org):
    before = _state()
    for body in ({"SAMLResponse": "not base64 at all!"}, {}, {"SAMLResponse": "PHg+"}):
        client = Client()
        answer = client.post(f"/api/auth/sso/{saml_conn.provider_id}", body)
        _refused(client, answer, "saml_malformed", before, org)
    answer = Client().post("/api/auth/sso/sso_unknown", {"SAMLResponse": "PHg+"})
    assert answer.status_code == 404 and answer["Content-Type"].startswith("text/html")


# --- OIDC ----------------------------------------------------------------------------------


def _oidc_answer(oidc_idp, client, account="alice", next_url="/dashboard"):
    url = _start(client, f"{account}@corp.example", next_url)
    assert url and url.startswith(oidc_idp.issuer), url
    return oidc_idp.log_in(url, account)


def _callback(client, provider_id, query):
    return client.get(f"/api/auth/sso/{provider_id}/callback", query)


def test_oidc_sign_in_with_jit_lands_in_the_org(oidc_conn, oidc_idp, org):
    client = Client()
    query = _oidc_answer(oidc_idp, client, next_url="/settings/organization")
    answer = _callback(client, oidc_conn.provider_id, query)
    assert answer.status_code == 302, answer.content[:2000]
    assert answer["Location"] == "/settings/organization"
    user = _signed_in_as(client, OIDC_EMAIL)
    assert Membership.objects.get(organization=org, user=user).role == Role.VIEWER
    assert SsoIdentity.objects.get(user=user).subject == "alice"
    assert client.session[SESSION_KEY] == org.public_id
    assert UserSession.objects.filter(user=user).exists()


def test_oidc_email_verified_false_is_refused(oidc_conn, oidc_idp, org):
    before = _state()
    client = Client()
    query = _oidc_answer(oidc_idp, client, account="mallory")
    _refused(
        client,
        _callback(client, oidc_conn.provider_id, query),
        "oidc_email_unverified",
        before,
        org,
    )


def test_oidc_a_used_attempt_is_refused(oidc_conn, oidc_idp, org):
    client = Client()
    query = _oidc_answer(oidc_idp, client)
    assert _callback(client, oidc_conn.provider_id, query).status_code == 302
    before = _state()
    again = Client()
    _refused(again, _callback(again, oidc_conn.provider_id, query), "attempt_used", before, org)


def test_oidc_an_expired_attempt_and_an_unknown_state_are_refused(oidc_conn, oidc_idp, org):
    client = Client()
    query = _oidc_answer(oidc_idp, client)
    before = _state()
    _refused(
        client,
        _callback(client, oidc_conn.provider_id, query | {"state": "forged"}),
        "unknown_attempt",
        before,
        org,
    )
    SsoLoginAttempt.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    _refused(
        client, _callback(client, oidc_conn.provider_id, query), "attempt_expired", before, org
    )


def _claims(oidc_idp, the_nonce, **changes):
    now = int(time.time())
    claims = {
        "iss": oidc_idp.issuer,
        "sub": "alice",
        "aud": oidc_idp.client_id,
        "iat": now,
        "exp": now + 300,
        "nonce": the_nonce,
        "email": OIDC_EMAIL,
        "email_verified": True,
    }
    claims.update(changes)
    return claims


def _b64(data: bytes) -> str:
    import base64  # noqa: PLC0415 - only the alg=none token needs it

    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("control", None),
        ("aud", "oidc_audience"),
        ("iss", "oidc_issuer"),
        ("nonce", "oidc_nonce"),
        ("email_verified", "oidc_email_unverified"),
        ("none", "oidc_algorithm"),
        ("hs256", "oidc_algorithm"),
        ("email_domain", "email_domain"),
    ],
)
def test_oidc_tampered_id_tokens_are_refused(oidc_conn, oidc_idp, org, monkeypatch, tamper, reason):
    client = Client()
    query = _oidc_answer(oidc_idp, client)
    nonce = SsoLoginAttempt.objects.get(state=query["state"]).nonce
    if tamper == "none":
        header = _b64(b'{"alg":"none","typ":"JWT"}')
        token = f"{header}.{_b64(jwt.api_jws.json.dumps(_claims(oidc_idp, nonce)).encode())}."
    elif tamper == "hs256":
        token = jwt.encode(_claims(oidc_idp, nonce), oidc_idp.client_secret, algorithm="HS256")
    else:
        changes = {
            "control": {},
            "aud": {"aud": "another-client"},
            "iss": {"iss": "https://evil.example"},
            "nonce": {"nonce": "not-the-nonce"},
            "email_verified": {"email_verified": False},
            "email_domain": {"email": "victim@elsewhere.test"},
        }[tamper]
        token = oidc_idp.sign(_claims(oidc_idp, nonce, **changes))
    monkeypatch.setattr(
        oidc,
        "exchange_code",
        lambda *a, **k: oidc.TokenResponse(
            id_token=token, access_token=None, raw={"id_token": token}
        ),
    )
    before = _state()
    answer = _callback(client, oidc_conn.provider_id, query)
    if reason is None:
        assert answer.status_code == 302
        _signed_in_as(client, OIDC_EMAIL)
    else:
        _refused(client, answer, reason, before, org)


# --- Test connection -----------------------------------------------------------------------


def test_test_connection_shows_the_claims_and_signs_no_one_in(saml_conn, saml_idp, org, owner, web):
    admin = web(owner, org)
    edit = admin.get(f"/settings/organization/sso/{saml_conn.provider_id}")
    assert b"Test connection" in edit.content
    before = _state()
    url = _idp_url(admin.post(f"/settings/organization/sso/{saml_conn.provider_id}/test"))
    browser_post = Client()  # the IdP's cross-site POST carries no session cookie
    response = saml_idp.sign_in(url)
    answer = _acs(browser_post, saml_conn.provider_id, response)
    assert answer.status_code == 302
    assert "_auth_user_id" not in browser_post.session
    page = admin.get(answer["Location"])
    assert page.status_code == 200
    assert SAML_EMAIL in page.content.decode() and "Saml" in page.content.decode()
    assert _state()[:3] == before[:3]
    assert AuditEvent.objects.filter(action="sso.connection_tested", actor=owner).exists()
    # Posting the same answer again is refused and keeps the result.
    again = _acs(Client(), saml_conn.provider_id, response)
    assert again["Location"] == answer["Location"]
    assert SAML_EMAIL in admin.get(answer["Location"]).content.decode()
    # Only its tester sees it.
    other_admin = UserFactory()
    join(org, Role.ADMIN, other_admin)
    assert web(other_admin, org).get(answer["Location"]).status_code == 404


def test_test_connection_is_for_owners_and_admins(saml_conn, org, web):
    viewer = UserFactory()
    join(org, Role.VIEWER, viewer)
    answer = web(viewer, org).post(f"/settings/organization/sso/{saml_conn.provider_id}/test")
    assert answer.status_code == 403
    assert SsoLoginAttempt.objects.count() == 0


# --- The login page ------------------------------------------------------------------------


def test_the_login_page_asks_for_the_email_first(saml_conn, saml_idp):
    client = Client()
    page = client.get("/accounts/login/").content.decode()
    assert 'name="login"' in page and 'name="password"' not in page
    answer = client.post("/accounts/login/?next=/usage", {"login": "someone@example.com"})
    assert _idp_url(answer).startswith(saml_idp.base_url)
    attempt = SsoLoginAttempt.objects.get()
    assert attempt.next_url == "/usage"
    page = client.post("/accounts/login/", {"login": "someone@elsewhere.test"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="password"' in html and "someone@elsewhere.test" in html


def test_a_password_still_signs_in_outside_sso_domains(db):
    user = UserFactory(email="pw@elsewhere.test")
    user.set_password("a-long-and-unusual-passphrase-42")
    user.save()
    client = Client()
    answer = client.post(
        "/accounts/login/",
        {"login": "pw@elsewhere.test", "password": "a-long-and-unusual-passphrase-42"},
    )
    assert answer.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_oidc_test_connection_shows_the_claims(oidc_conn, oidc_idp, owner, web):
    admin = web(owner, oidc_conn.organization)
    before = _state()
    url = _idp_url(admin.post(f"/settings/organization/sso/{oidc_conn.provider_id}/test"))
    query = oidc_idp.log_in(url, "alice")
    answer = _callback(Client(), oidc_conn.provider_id, query)
    assert answer.status_code == 302
    page = admin.get(answer["Location"]).content.decode()
    assert OIDC_EMAIL in page and "alice" in page
    assert _state()[:3] == before[:3]


def test_oidc_a_refusal_at_the_provider_is_refused(oidc_conn, oidc_idp, org):
    client = Client()
    query = _oidc_answer(oidc_idp, client)
    before = _state()
    answer = _callback(
        client, oidc_conn.provider_id, {"state": query["state"], "error": "access_denied"}
    )
    _refused(client, answer, "idp_error", before, org)


def test_start_answers_502_when_the_provider_cannot_be_reached(oidc_conn, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False  # the loopback issuer is now refused by outbound
    from django.core.cache import cache  # noqa: PLC0415 - only this test clears discovery

    cache.clear()
    response = Client().post(
        "/api/auth/sso/start", {"email": OIDC_EMAIL}, content_type="application/json"
    )
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "sso_unavailable"
    assert SsoLoginAttempt.objects.count() == 0
