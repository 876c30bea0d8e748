"""Signing in through a connection: the trip to the IdP and back (docs/sso.md, "Signing in").

``attempt_begin`` stores a login attempt (the SAML request id, or the OIDC state, nonce and
PKCE verifier) in the database and answers the IdP URL; ``saml_complete`` and
``oidc_complete`` consume the attempt (single use), validate what came back with
``sso.saml`` / ``sso.oidc``, and apply the identity rules:

- the email's domain must be one of *this* connection's verified domains;
- identities are keyed by (connection, NameID or ``sub``), never by email alone;
- an existing account with that email is linked at its first SSO sign-in only when it is
  already a member of the organization (or when its owner asked for the link after signing
  in with the password: the attempt's ``link_user``); otherwise the sign-in is refused;
- just-in-time provisioning creates the user (email verified, unusable password) and the
  membership with the default or group-mapped role (never owner);
- with a group mapping, the groups decide the role at every sign-in: a change is a role
  change, no mapped group left removes the membership (owners are never touched).

Every outcome is audited in the connection's organization. A refusal is a
:class:`SignInRefused`; it changes nothing but the attempt (used) and the audit log.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field

from allauth.account.models import EmailAddress
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from accounts.models import User, normalize_email
from hypereal_site import crypto, reasons
from orgs.audit import Target, audit_record, target_of
from orgs.models import Membership, Organization
from orgs.permissions import ROLE_RANK, Role
from orgs.signals import members_changed

from . import oidc, saml, selectors
from .domainnames import email_domain
from .models import SsoConnection, SsoDomain, SsoIdentity, SsoLoginAttempt, SsoReplay

ATTEMPT_TTL = dt.timedelta(minutes=10)
DEFAULT_NEXT = "/dashboard"
MAX_NEXT_CHARS = 2000

Purpose = SsoLoginAttempt.Purpose

#: Why a sign-in was refused, as the page and the audit log say it.
REFUSALS = {
    "unknown_connection": _("This sign-in link does not belong to an active SSO connection."),
    "unsolicited": _(
        "Your identity provider started this sign-in, and this connection does not accept "
        "sign-ins started at the identity provider. Start from the console's sign-in page."
    ),
    "unknown_attempt": _("This answer does not match a sign-in we started. Sign in again."),
    "attempt_used": _("This sign-in was already used. Sign in again."),
    "attempt_expired": _("This sign-in took too long and expired. Sign in again."),
    "replay": _("This answer from your identity provider was already used. Sign in again."),
    "idp_error": _("Your identity provider did not sign you in."),
    "provider_unavailable": _("Your identity provider could not be reached. Try again later."),
    "email_missing": _("Your identity provider did not send an email address."),
    "email_domain": _(
        "Your identity provider sent an email address outside this organization's verified domains."
    ),
    "link_required": _(
        "An account with this email address already exists and is not a member of this "
        "organization. Sign in with your password once, then link your identity provider "
        "from the page offered after signing in."
    ),
    "link_mismatch": _(
        "The identity provider signed in someone other than the account that asked for the link."
    ),
    "no_account": _(
        "There is no account for this email address and this organization does not create "
        "accounts at sign-in. Ask an administrator of the organization to invite you."
    ),
    "not_member": _(
        "You are not a member of this organization. Ask one of its administrators to invite you."
    ),
    "no_group": _(
        "None of your groups at the identity provider gives access to this organization."
    ),
    "inactive": _("This account is deactivated."),
}


def register_refusal_reasons() -> None:
    """The refusals as reason codes (``sso_<reason>``, ``saml_<reason>``), so that the audit
    log shows a stored refusal in its reader's language (hypereal_site.reasons)."""
    codes = {f"sso_{reason}": text for reason, text in REFUSALS.items()}
    codes.update({f"saml_{reason}": text for reason, text in saml._MESSAGES.items()})
    reasons.register(codes)


class SignInRefused(Exception):
    """A refused sign-in: ``reason`` (a REFUSALS key, or ``saml_<reason>`` /
    ``oidc_<reason>`` from the protocol layer) and a message for the person."""

    def __init__(
        self,
        reason: str,
        message: str | None = None,
        *,
        connection: SsoConnection | None = None,
        attempt: SsoLoginAttempt | None = None,
        detail: str = "",
        params: dict | None = None,
    ):
        self.reason = reason
        self.message = str(message or REFUSALS.get(reason, reason))
        self.connection = connection
        self.attempt = attempt
        self.email = ""  # the address the IdP sent, once known
        self._message = message
        self.detail, self.params = detail, dict(params or {})  # an OIDC refusal's reason code
        super().__init__(self.message)

    @property
    def english(self) -> str:
        """The message in the active language (the audit log renders it under "en")."""
        return str(self._message or REFUSALS.get(self.reason, self.reason))

    def reason_payload(self) -> dict:
        """The refusal as a reason code and its parameters (``reasons.reason_payload``):
        translated when shown. A refusal with a sentence of its own and no code keeps the
        sentence, in English (``legacy``)."""
        if self.reason in REFUSALS and self._message is None:
            return reasons.reason_payload(f"sso_{self.reason}")
        if self.reason.startswith("saml_") and self.reason[5:] in saml._MESSAGES:
            return reasons.reason_payload(self.reason)
        if self.reason.startswith("oidc_") and self.detail and self.detail != reasons.LEGACY:
            return reasons.reason_payload(self.detail, self.params)
        with translation.override("en"):
            return reasons.reason_payload(reasons.LEGACY, {"text": self.english})


@dataclass
class SignInResult:
    purpose: str
    connection: SsoConnection
    attempt: SsoLoginAttempt | None
    next_url: str
    user: User | None = None
    created: bool = False
    claims: dict = field(default_factory=dict)


# --- Helpers --------------------------------------------------------------------------------


def safe_next(next_url: str | None) -> str:
    """A local path to land on after signing in; anything else (an absolute or
    scheme-relative URL, a backslash trick, control characters) is the dashboard."""
    if not isinstance(next_url, str) or not next_url or len(next_url) > MAX_NEXT_CHARS:
        return DEFAULT_NEXT
    if not next_url.startswith("/") or next_url.startswith(("//", "/\\")):
        return DEFAULT_NEXT
    if any(ord(c) < 0x20 or c in "\\\x7f" for c in next_url):
        return DEFAULT_NEXT
    return next_url


def saml_connection_of(connection: SsoConnection) -> saml.SamlConnection:
    certificates = tuple(
        c for c in (connection.saml_certificate, connection.saml_certificate_next) if c
    )
    mapping = {"email": connection.attribute_email}
    if connection.attribute_first_name:
        mapping["first_name"] = connection.attribute_first_name
    if connection.attribute_last_name:
        mapping["last_name"] = connection.attribute_last_name
    return saml.SamlConnection(
        provider_id=connection.provider_id,
        idp_entity_id=connection.saml_entity_id,
        idp_sso_url=connection.saml_sso_url,
        idp_certificates=certificates,
        attribute_mapping=mapping,
        allow_idp_initiated=connection.idp_initiated,
    )


def oidc_connection_of(connection: SsoConnection) -> oidc.OidcConnection:
    return oidc.OidcConnection(
        provider_id=connection.provider_id,
        issuer=connection.oidc_issuer,
        client_id=connection.oidc_client_id,
        client_secret=selectors.connection_client_secret(connection=connection),
    )


class ConnectionOidcBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend made multi-tenant: its configuration comes from one
    connection (never from settings), and the token exchange and the ID token check are
    ``sso.oidc``'s (PKCE, RS256/ES256 only, discovery-pinned issuer). It is used as an
    object by :func:`oidc_complete`, never listed in AUTHENTICATION_BACKENDS, so it cannot
    authenticate anything but a callback with its attempt."""

    def __init__(self, connection: SsoConnection):  # settings are not read
        self.connection = connection
        self.protocol = oidc_connection_of(connection)
        self.provider = oidc.discover(self.protocol.issuer)
        self.OIDC_OP_TOKEN_ENDPOINT = self.provider.token_endpoint
        self.OIDC_OP_USER_ENDPOINT = self.provider.userinfo_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = self.provider.jwks_uri
        self.OIDC_RP_CLIENT_ID = self.protocol.client_id
        self.OIDC_RP_CLIENT_SECRET = self.protocol.client_secret
        self.OIDC_RP_SIGN_ALGO = "RS256"
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = User

    def get_token(self, payload: dict) -> dict:
        tokens = oidc.exchange_code(
            self.protocol,
            self.provider,
            code=payload["code"],
            code_verifier=payload["code_verifier"],
        )
        return tokens.raw

    def verify_token(self, token: str, **kwargs) -> dict:
        return oidc.verify_id_token(self.protocol, self.provider, token, nonce=kwargs["nonce"])

    def verified_claims(self, *, code: str, code_verifier: str, nonce: str) -> dict:
        tokens = self.get_token({"code": code, "code_verifier": code_verifier})
        return self.verify_token(tokens.get("id_token"), nonce=nonce)

    def authenticate(self, request, **kwargs):  # never a settings-driven sign-in
        return None


# --- Starting -------------------------------------------------------------------------------


def attempt_begin(
    *,
    connection: SsoConnection,
    purpose: str = Purpose.SIGNIN,
    next_url: str = "",
    login_hint: str | None = None,
    actor: User | None = None,
    link_user: User | None = None,
) -> str:
    """Store a new attempt for ``connection`` and answer the IdP URL to send the browser to.

    The OIDC discovery fetch happens before the database write (no transaction held while
    the network answers)."""
    now = timezone.now()
    attempt = SsoLoginAttempt(
        connection=connection,
        purpose=purpose,
        next_url=safe_next(next_url),
        started_by=actor if purpose == Purpose.TEST else None,
        link_user=link_user,
        created_at=now,
        expires_at=now + ATTEMPT_TTL,
    )
    if connection.type == SsoConnection.Type.SAML:
        request = saml.build_authn_request(saml_connection_of(connection))
        attempt.request_id = request.request_id
        url = request.url
    else:
        protocol = oidc_connection_of(connection)
        try:
            provider = oidc.discover(protocol.issuer)
        except oidc.OidcError as exc:
            raise SignInRefused("provider_unavailable", connection=connection) from exc
        request = oidc.authorization_request(protocol, provider, login_hint=login_hint)
        attempt.state, attempt.nonce = request.state, request.nonce
        attempt.code_verifier = request.code_verifier
        url = request.url
    attempt.save()
    return url


def start_signin(*, email: str, next_url: str = "") -> str | None:
    """The IdP URL for ``email`` when its domain is verified and routed to an enabled
    connection, else None. Whether an account exists plays no part."""
    connection = selectors.sso_connection_for_email(email if isinstance(email, str) else "")
    if connection is None:
        return None
    return attempt_begin(connection=connection, next_url=next_url, login_hint=email)


def start_test(*, connection: SsoConnection, actor: User) -> str:
    """A round trip that signs no one in: the claims received are stored on the attempt."""
    return attempt_begin(connection=connection, purpose=Purpose.TEST, actor=actor)


def start_link(*, connection: SsoConnection, user: User, next_url: str = "") -> str:
    """After a password sign-in: a round trip that links the IdP identity to ``user``."""
    return attempt_begin(
        connection=connection, next_url=next_url, login_hint=user.email, link_user=user
    )


# --- Completing -----------------------------------------------------------------------------


def _connection(provider_id: str, type_: str) -> SsoConnection:
    connection = (
        SsoConnection.objects.select_related("organization")
        .filter(provider_id=provider_id, type=type_, enabled=True)
        .filter(organization__deleted_at__isnull=True)
        .first()
        if isinstance(provider_id, str) and "\x00" not in provider_id
        else None
    )
    if connection is None:
        raise SignInRefused("unknown_connection")
    return connection


def _consume(attempt: SsoLoginAttempt, connection: SsoConnection) -> None:
    """Mark the attempt used, once: a second answer to it is refused."""
    now = timezone.now()
    if attempt.expires_at <= now:
        raise SignInRefused("attempt_expired", connection=connection, attempt=attempt)
    used = SsoLoginAttempt.objects.filter(pk=attempt.pk, used_at__isnull=True).update(used_at=now)
    if used != 1:
        raise SignInRefused("attempt_used", connection=connection, attempt=attempt)
    attempt.used_at = now


def _remember(connection: SsoConnection, values: list[str], until: dt.datetime) -> None:
    """The replay cache: each id once per connection until ``until``."""
    try:
        with transaction.atomic():
            for value in dict.fromkeys(v for v in values if v):
                SsoReplay.objects.create(connection=connection, value=value[:256], expires_at=until)
    except IntegrityError:
        raise SignInRefused("replay", connection=connection) from None


def _peek_in_response_to(saml_response: str) -> str | None:
    """The response's InResponseTo before any check, only to find the attempt it claims to
    answer (the validation then checks it against that attempt's id)."""
    if (
        not isinstance(saml_response, str)
        or not saml_response
        or len(saml_response) > saml.MAX_RESPONSE_BYTES
        or "\x00" in saml_response
    ):
        raise SignInRefused("saml_malformed", str(saml._MESSAGES["malformed"]))
    try:
        root = OneLogin_Saml2_XML.to_etree(base64.b64decode(saml_response, validate=False))
    except (ValueError, binascii.Error, Exception) as exc:  # any unreadable document
        raise SignInRefused("saml_malformed", str(saml._MESSAGES["malformed"])) from exc
    value = root.get("InResponseTo")
    return value or None


def saml_complete(*, provider_id: str, saml_response: str) -> SignInResult:
    """The ACS: the attempt the response answers, python3-saml's strict validation (through
    ``sso.saml.validate_response``), the replay cache, then the identity rules."""
    connection = _connection(provider_id, SsoConnection.Type.SAML)
    try:
        in_response_to = _peek_in_response_to(saml_response)
    except SignInRefused as exc:
        exc.connection = connection
        raise
    attempt = None
    if in_response_to is not None:
        attempt = SsoLoginAttempt.objects.filter(
            connection=connection, request_id=in_response_to[:128]
        ).first()
        if attempt is None:
            raise SignInRefused("unknown_attempt", connection=connection)
        _consume(attempt, connection)
    elif not connection.idp_initiated:
        raise SignInRefused("unsolicited", connection=connection)
    try:
        assertion = saml.validate_response(
            saml_connection_of(connection),
            saml_response,
            expected_request_id=attempt.request_id if attempt else None,
        )
    except saml.SamlError as exc:
        raise SignInRefused(
            f"saml_{exc.reason}", exc.message, connection=connection, attempt=attempt
        ) from exc
    _remember(connection, [assertion.assertion_id, assertion.message_id], assertion.not_on_or_after)
    email = assertion.mapped.get("email")
    if not email and (assertion.name_id_format or "").endswith(":emailAddress"):
        email = assertion.name_id
    groups = (
        assertion.attributes.get(connection.attribute_groups, [])
        if connection.attribute_groups
        else []
    )
    return _finish(
        connection,
        attempt,
        subject=assertion.name_id,
        email=email,
        name=" ".join(
            v for v in (assertion.mapped.get("first_name"), assertion.mapped.get("last_name")) if v
        ),
        groups=groups,
        claims={"nameId": assertion.name_id, "attributes": assertion.attributes},
    )


def oidc_complete(
    *, provider_id: str, state: str | None, code: str | None, error: str | None = None
) -> SignInResult:
    """The callback: the attempt named by ``state``, the code exchanged with its PKCE
    verifier, the ID token checked against its nonce, then the identity rules."""
    connection = _connection(provider_id, SsoConnection.Type.OIDC)
    if not isinstance(state, str) or not state or len(state) > 128 or "\x00" in state:
        raise SignInRefused("unknown_attempt", connection=connection)
    attempt = SsoLoginAttempt.objects.filter(connection=connection, state=state).first()
    if attempt is None or not oidc.state_matches(attempt.state, state):
        raise SignInRefused("unknown_attempt", connection=connection)
    _consume(attempt, connection)
    if error or not isinstance(code, str) or not code or "\x00" in code:
        raise SignInRefused("idp_error", connection=connection, attempt=attempt)
    try:
        backend = ConnectionOidcBackend(connection)
        claims = backend.verified_claims(
            code=code[:2048], code_verifier=attempt.code_verifier, nonce=attempt.nonce
        )
    except oidc.OidcError as exc:
        raise SignInRefused(
            f"oidc_{exc.reason}",
            exc.message,
            connection=connection,
            attempt=attempt,
            detail=exc.detail,
            params=exc.params,
        ) from exc
    except crypto.DecryptionError as exc:
        raise SignInRefused("provider_unavailable", connection=connection) from exc
    groups_claim = connection.attribute_groups or "groups"
    groups = claims.get(groups_claim) or []
    if not isinstance(groups, list):
        groups = [groups]
    return _finish(
        connection,
        attempt,
        subject=str(claims["sub"]),
        email=claims.get("email"),
        name=str(claims.get("name") or "")[:150],
        groups=[str(g) for g in groups],
        claims=claims,
    )


def _mapped_role(connection: SsoConnection, groups: list[str]) -> str | None:
    """The role the groups give (the highest), the default role without a mapping, None
    when a mapping is set and no group of the person is in it. Never owner."""
    mapping = connection.group_role_mapping or {}
    if not mapping:
        return connection.default_role
    roles = [
        mapping[g]
        for g in groups
        if isinstance(mapping.get(g), str) and mapping[g] in ROLE_RANK and mapping[g] != Role.OWNER
    ]
    return max(roles, key=lambda r: ROLE_RANK[r]) if roles else None


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k)[:200]: _json_safe(v) for k, v in list(value.items())[:100]}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in list(value)[:100]]
    if isinstance(value, str | int | float | bool) or value is None:
        return value[:1000] if isinstance(value, str) else value
    return str(value)[:1000]


def _finish(
    connection: SsoConnection,
    attempt: SsoLoginAttempt | None,
    *,
    subject: str,
    email: str | None,
    name: str,
    groups: list[str],
    claims: dict,
) -> SignInResult:
    purpose = attempt.purpose if attempt else Purpose.SIGNIN
    next_url = safe_next(attempt.next_url if attempt else "")
    email = normalize_email(email) if isinstance(email, str) else ""
    if not email or "@" not in email:
        raise SignInRefused("email_missing", connection=connection, attempt=attempt)
    domain = email_domain(email)
    if (
        domain is None
        or not SsoDomain.objects.filter(
            connection=connection,
            organization_id=connection.organization_id,
            name=domain,
            verified_at__isnull=False,
        ).exists()
    ):
        refusal = SignInRefused("email_domain", connection=connection, attempt=attempt)
        refusal.email = email
        raise refusal
    if purpose == Purpose.TEST:
        return _finish_test(connection, attempt, subject=subject, email=email, claims=claims)
    try:
        outcome = _sign_in(
            connection,
            attempt,
            subject=subject[:512],
            email=email,
            name=name,
            groups=groups,
        )
    except SignInRefused as refusal:
        refusal.email = email
        raise
    if isinstance(outcome, SignInRefused):  # a removal by the groups was committed
        outcome.email = email
        raise outcome
    user, created = outcome
    return SignInResult(
        purpose=purpose,
        connection=connection,
        attempt=attempt,
        next_url=next_url,
        user=user,
        created=created,
    )


@transaction.atomic
def _finish_test(
    connection: SsoConnection, attempt: SsoLoginAttempt, *, subject: str, email: str, claims: dict
) -> SignInResult:
    result = {"ok": True, "subject": subject, "email": email, "claims": _json_safe(claims)}
    attempt.result = result
    attempt.save(update_fields=["result"])
    audit_record(
        organization=connection.organization,
        actor=attempt.started_by,
        action="sso.connection_tested",
        after={"connection": connection.provider_id, "ok": True, "email": email},
    )
    return SignInResult(
        purpose=Purpose.TEST,
        connection=connection,
        attempt=attempt,
        next_url="",
        claims=result,
    )


@transaction.atomic
def _sign_in(
    connection: SsoConnection,
    attempt: SsoLoginAttempt | None,
    *,
    subject: str,
    email: str,
    name: str,
    groups: list[str],
) -> tuple[User, bool] | SignInRefused:
    org = Organization.objects.select_for_update().get(pk=connection.organization_id)
    refuse = _refuser(connection, attempt)
    identity = (
        SsoIdentity.objects.select_for_update()
        .select_related("user")
        .filter(connection=connection, subject=subject)
        .first()
    )
    created = False
    if identity is not None:
        user = identity.user
        if attempt is not None and attempt.link_user_id not in (None, user.pk):
            raise refuse("link_mismatch")
    else:
        user = User.objects.filter(email=email).first()
        if attempt is not None and attempt.link_user_id is not None:
            # The link step: the signed-in account asked for this; the IdP must agree.
            if user is None or user.pk != attempt.link_user_id:
                raise refuse("link_mismatch")
        elif (
            user is not None and not Membership.objects.filter(organization=org, user=user).exists()
        ):
            raise refuse("link_required")
        if user is None:
            if not connection.jit_enabled:
                raise refuse("no_account")
            role = _mapped_role(connection, groups)
            if role is None:
                raise refuse("no_group")
            user = User.objects.create_user(email=email, password=None, name=name)
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
            created = True
        identity = SsoIdentity.objects.create(
            connection=connection, subject=subject, user=user, email=email
        )
        audit_record(
            organization=org,
            actor=user,
            action="sso.identity_linked",
            target=target_of(user),
            after={"connection": connection.provider_id, "created_user": created},
        )
    if not user.is_active:
        raise refuse("inactive")

    membership = Membership.objects.select_related("user").filter(organization=org, user=user)
    membership = membership.first()
    if membership is None:
        if not connection.jit_enabled:
            raise refuse("not_member")
        role = _mapped_role(connection, groups)
        if role is None:
            raise refuse("no_group")
        membership = Membership.objects.create(organization=org, user=user, role=role)
        members_changed.send(sender=Organization, organization_id=org.pk)
        audit_record(
            organization=org,
            actor=user,
            action="sso.member_provisioned",
            target=target_of(membership),
            after={"role": role, "connection": connection.provider_id, "groups": groups[:50]},
        )
    elif connection.group_role_mapping and membership.role != Role.OWNER:
        role = _mapped_role(connection, groups)
        if role is None:
            members_changed.send(sender=Organization, organization_id=org.pk)
            audit_record(
                organization=org,
                actor=None,
                action="sso.member_removed_by_groups",
                target=target_of(membership),
                before={"role": membership.role},
                after={"connection": connection.provider_id, "groups": groups[:50]},
            )
            membership.delete()
            return SignInRefused("no_group", connection=connection, attempt=attempt)
        if role != membership.role:
            before = membership.role
            membership.role = role
            membership.save(update_fields=["role"])
            members_changed.send(sender=Organization, organization_id=org.pk)
            audit_record(
                organization=org,
                actor=None,
                action="sso.role_changed_by_groups",
                target=target_of(membership),
                before={"role": before},
                after={"role": role, "connection": connection.provider_id, "groups": groups[:50]},
            )
    identity.last_login_at = timezone.now()
    identity.email = email
    identity.save(update_fields=["last_login_at", "email"])
    if not user.name and name:
        user.name = name
        user.save(update_fields=["name"])
    audit_record(
        organization=org,
        actor=user,
        action="sso.signed_in",
        target=target_of(membership),
        after={
            "connection": connection.provider_id,
            "type": connection.type,
            "role": membership.role,
            "created_user": created,
        },
    )
    return user, created


def _refuser(connection, attempt):
    def make(reason: str) -> SignInRefused:
        return SignInRefused(reason, connection=connection, attempt=attempt)

    return make


def record_refusal(refusal: SignInRefused) -> None:
    """The audit event of a refused sign-in, in its own transaction (the refused work was
    rolled back). The reason is stored as a code and its parameters, shown in the reader's
    language (a refusal without a code: its English sentence). A connection test's refusal
    is also kept on its attempt for the tester."""
    connection = refusal.connection
    if connection is None:
        return
    reason = refusal.reason_payload()
    with transaction.atomic():
        attempt = refusal.attempt
        if attempt is not None and attempt.purpose == Purpose.TEST:
            result = {
                "ok": False,
                "reason": refusal.reason,
                "message": refusal.message,
                "detail": reason,  # the message again, as a code: shown in the reader's language
            }
            # A second answer to a finished test does not overwrite its result.
            SsoLoginAttempt.objects.filter(pk=attempt.pk, result__isnull=True).update(result=result)
            audit_record(
                organization=connection.organization,
                actor=attempt.started_by,
                action="sso.connection_tested",
                target=_connection_target(connection),
                after={"connection": connection.provider_id, "ok": False, "reason": reason},
            )
            return
        audit_record(
            organization=connection.organization,
            actor=None,
            action="sso.signin_refused",
            target=_connection_target(connection),
            after={"connection": connection.provider_id, "reason": reason, "email": refusal.email},
        )


def _connection_target(connection: SsoConnection) -> Target:
    return Target("sso_connection", connection.provider_id, connection.get_type_display())


# --- Reading and housekeeping ---------------------------------------------------------------


def prune(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Forget replay ids past their NotOnOrAfter and attempts a day past their expiry."""
    now = now or timezone.now()
    replays, _ = SsoReplay.objects.filter(expires_at__lte=now).delete()
    attempts, _ = SsoLoginAttempt.objects.filter(
        expires_at__lte=now - dt.timedelta(days=1)
    ).delete()
    return {"replays": replays, "attempts": attempts}
