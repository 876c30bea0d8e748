"""Reading SSO state: an organization's domains and connections, and the sign-in side's
questions ("which connection serves this email?"). Nothing here writes."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from hypereal_site import crypto
from orgs.models import Membership, Organization
from orgs.permissions import Role

from .domainnames import email_domain, normalize_domain
from .models import SsoConnection, SsoDomain, SsoLoginAttempt

#: A verified domain's record is looked up again once this long after its last check.
RECHECK_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class TxtRecord:
    name: str
    type: str
    value: str


def txt_record(domain: SsoDomain) -> TxtRecord:
    return TxtRecord(name=domain.record_name, type="TXT", value=domain.token)


def org_domains(*, organization: Organization) -> QuerySet[SsoDomain]:
    return (
        SsoDomain.objects.filter(organization=organization)
        .select_related("connection")
        .order_by("name")
    )


def domain_get(*, organization: Organization, name: str) -> SsoDomain:
    """The organization's claim on ``name`` (any spelling of it), 404 otherwise."""
    try:
        canonical = normalize_domain(name)
    except ValidationError:  # an unparseable name is simply not one of its claims
        raise Http404("No such domain.") from None
    domain = (
        SsoDomain.objects.filter(organization=organization, name=canonical)
        .select_related("connection")
        .first()
    )
    if domain is None:
        raise Http404("No such domain.")
    return domain


def domain_verified_elsewhere(*, domain: SsoDomain) -> bool:
    return (
        SsoDomain.objects.filter(name=domain.name, verified_at__isnull=False)
        .exclude(organization=domain.organization)
        .exists()
    )


def _connections() -> QuerySet[SsoConnection]:
    return SsoConnection.objects.select_related("organization").prefetch_related(
        Prefetch("domains", queryset=SsoDomain.objects.order_by("name")),
        Prefetch(
            "break_glass_owners",
            queryset=Membership.objects.select_related("user").order_by("user__email"),
        ),
    )


def org_connections(*, organization: Organization) -> QuerySet[SsoConnection]:
    return _connections().filter(organization=organization).order_by("created_at", "id")


def connection_get(*, organization: Organization, provider_id: str) -> SsoConnection:
    """The organization's connection ``provider_id``; another tenant's is a 404 too."""
    connection = _connections().filter(organization=organization, provider_id=provider_id).first()
    if connection is None:
        raise Http404("No such SSO connection.")
    return connection


def org_owner_members(*, organization: Organization) -> QuerySet[Membership]:
    """The members who may be break-glass owners (the owner role)."""
    return (
        Membership.objects.filter(organization=organization, role=Role.OWNER)
        .select_related("user")
        .order_by("user__email")
    )


def break_glass_owners(*, connection: SsoConnection) -> list[Membership]:
    """The connection's break-glass owners who still hold the owner role."""
    return [m for m in connection.break_glass_owners.all() if m.role == Role.OWNER]


# --- the service provider's own values (built from SITE_URL, never the Host header) -------


def acs_url(connection: SsoConnection) -> str:
    return f"{settings.SITE_URL}/api/auth/sso/{connection.provider_id}"


def redirect_uri(connection: SsoConnection) -> str:
    return f"{settings.SITE_URL}/api/auth/sso/{connection.provider_id}/callback"


def sp_entity_id(connection: SsoConnection) -> str:
    return f"{settings.SITE_URL}/api/auth/sso/{connection.provider_id}/metadata"


# --- for the sign-in side -------------------------------------------------------------------


def sso_connection_for_email(email: str) -> SsoConnection | None:
    """The enabled connection that serves ``email``'s domain, or None.

    Only a domain verified by its organization routes a sign-in (a claim alone never does),
    only to an enabled connection of a live organization, and only the exact domain: an
    address at ``eng.example.com`` is not served by a claim on ``example.com``.
    """
    name = email_domain(email)
    if name is None:
        return None
    domain = (
        SsoDomain.objects.filter(
            name=name,
            verified_at__isnull=False,
            connection__enabled=True,
            organization__deleted_at__isnull=True,
        )
        .select_related("connection__organization")
        .first()
    )
    if domain is None or domain.connection.organization_id != domain.organization_id:
        return None
    return domain.connection


def connection_client_secret(*, connection: SsoConnection) -> str:
    """The OIDC client secret in clear, for the token request only ("" if none is set).

    Raises ``hypereal_site.crypto.DecryptionError`` when FIELD_ENCRYPTION_KEYS lacks its key.
    """
    if not connection.oidc_client_secret:
        return ""
    return crypto.decrypt(connection.oidc_client_secret)


def domains_due_for_recheck(*, now: datetime) -> QuerySet[SsoDomain]:
    """Verified domains not looked up for a day (the beat sweep re-checks them)."""
    return SsoDomain.objects.filter(verified_at__isnull=False).filter(
        Q(last_checked_at__isnull=True) | Q(last_checked_at__lte=now - RECHECK_EVERY)
    )


# --- enforcement (password paths; see docs/sso.md "Enforcement and break-glass owners") -----


@dataclass(frozen=True)
class PasswordRefusal:
    """Why a password may not be used: ``code`` is ``sso_required`` or ``mfa_required``."""

    code: str
    message: str
    organization_name: str


def _enforcing_memberships(user) -> list[tuple[Membership, SsoConnection]]:
    """(membership, enforcing connection) for each live organization ``user`` belongs to
    whose enabled connection enforces SSO. Keyed on membership, not on the email's domain:
    an invitee from another domain is bound by it too."""
    if user is None or not getattr(user, "pk", None):
        return []
    connections = (
        SsoConnection.objects.filter(
            enforce=True,
            enabled=True,
            organization__deleted_at__isnull=True,
            organization__memberships__user_id=user.pk,
        )
        .select_related("organization")
        .prefetch_related("break_glass_owners")
        .order_by("organization_id", "id")
    )
    memberships = {
        m.organization_id: m
        for m in Membership.objects.filter(
            user_id=user.pk, organization_id__in={c.organization_id for c in connections}
        )
    }
    return [
        (memberships[c.organization_id], c) for c in connections if c.organization_id in memberships
    ]


def _is_break_glass(membership: Membership, connection: SsoConnection) -> bool:
    return membership.role == Role.OWNER and any(
        m.pk == membership.pk for m in connection.break_glass_owners.all()
    )


def _has_mfa(user) -> bool:
    from allauth.mfa.models import Authenticator  # noqa: PLC0415 - allauth models load late

    return Authenticator.objects.filter(
        user_id=user.pk, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()


def password_login_refusal(user) -> PasswordRefusal | None:
    """None when ``user`` may use a password (login, re-authentication, password reset);
    otherwise why not. Ask only once the password has been checked (or for a user already
    identified by a reset key), so the answer reveals nothing to someone who lacks it.

    A member of an organization whose enabled connection enforces SSO is refused, unless
    they are a break-glass owner of every such connection (still holding the owner role)
    *and* have a second factor (TOTP or a security key): a break-glass owner without one is
    refused too, with ``mfa_required``.
    """
    pairs = _enforcing_memberships(user)
    if not pairs:
        return None
    for membership, connection in pairs:
        if not _is_break_glass(membership, connection):
            return PasswordRefusal(
                code="sso_required",
                message=_(
                    "%(org)s requires single sign-on: sign in through your company's "
                    "identity provider (SSO), not with a password."
                )
                % {"org": connection.organization.name},
                organization_name=connection.organization.name,
            )
    if not _has_mfa(user):
        name = pairs[0][1].organization.name
        return PasswordRefusal(
            code="mfa_required",
            message=_(
                "%(org)s requires single sign-on. As a break-glass owner you may still use "
                "your password, but only with two-factor authentication: sign in through SSO "
                "and set up an authenticator app or a security key first."
            )
            % {"org": name},
            organization_name=name,
        )
    return None


def break_glass_connections(user) -> list[SsoConnection]:
    """The enforcing connections under which ``user`` signs in with a password as a
    break-glass owner (empty when they are bound by none)."""
    return [c for m, c in _enforcing_memberships(user) if _is_break_glass(m, c)]


def break_glass_warning(connection: SsoConnection) -> str:
    """A warning for the connection page: names nobody who can still break the glass."""
    named = list(connection.break_glass_owners.all())
    current = [m for m in named if m.role == Role.OWNER]
    if connection.enforce and not current:
        return _(
            "No break-glass owner is left: the owners named have been demoted or have left "
            "the organization. SSO is still enforced, so nobody can sign in with a password "
            "if the identity provider fails. Name a current owner below."
        )
    return ""


def saml_connection_exists(*, provider_id: str) -> bool:
    return SsoConnection.objects.filter(
        provider_id=provider_id, type=SsoConnection.Type.SAML
    ).exists()


def test_attempt_for(*, connection: SsoConnection, attempt_id: int, user) -> SsoLoginAttempt | None:
    """The result of a connection test, only for the person who ran it."""
    return SsoLoginAttempt.objects.filter(
        pk=attempt_id,
        connection=connection,
        purpose=SsoLoginAttempt.Purpose.TEST,
        started_by=user,
    ).first()
