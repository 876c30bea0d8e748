"""Reading SSO state: an organization's domains and connections, and the sign-in side's
questions ("which connection serves this email?"). Nothing here writes."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

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
