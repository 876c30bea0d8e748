"""Every change to SSO domains and connections (docs/sso.md).

Each service takes keyword arguments and ``actor=`` (None for the beat's re-check), checks
the actor's role against ``sso.manage``, writes in one transaction and records its audit
event in it. DNS look-ups happen before the transaction, never while a row is locked.
Secrets are encrypted here (``hypereal_site.crypto``) and never appear in an audit payload.
"""

import hashlib
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from hypereal_site import crypto
from hypereal_site.api.errors import ApplicationError
from hypereal_site.notify import send_once
from hypereal_site.reasons import reason_payload
from orgs.audit import Target, audit_record
from orgs.models import Membership, Organization
from orgs.permissions import Perm, Role, role_allows
from orgs.selectors import membership_get, org_owners

from . import checks, dnscheck, selectors
from .domainnames import display_domain, normalize_domain
from .models import SsoConnection, SsoDomain

logger = logging.getLogger("hypereal.sso")

METADATA_XML_MAX = 200_000
GROUP_MAPPING_MAX = 200
_https = URLValidator(schemes=["https"])
_http_or_https = URLValidator(schemes=["http", "https"])


# --- helpers --------------------------------------------------------------------------


def _require_manager(*, organization: Organization, actor: User) -> Membership:
    if organization.is_personal:
        raise ApplicationError(
            "invalid_request", _("Single sign-on is for team organizations."), status=400
        )
    membership = membership_get(organization=organization, user=actor)
    if membership is None:
        raise ApplicationError("not_found", _("No such organization."), status=404)
    if not role_allows(membership.role, Perm.SSO_MANAGE):
        raise ApplicationError(
            "permission_denied",
            _("Your role (%(role)s) does not allow this.")
            % {"role": membership.get_role_display()},
            status=403,
        )
    return membership


def _lock_org(organization: Organization) -> Organization:
    return Organization.objects.select_for_update().get(pk=organization.pk)


def _domain_target(domain: SsoDomain) -> Target:
    return Target("sso_domain", domain.public_id, display_domain(domain.name))


def _connection_target(connection: SsoConnection) -> Target:
    return Target("sso_connection", connection.provider_id, connection.get_type_display())


def _clean_text(field: str, value, *, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({field: _("Enter text.")})
    value = value.strip()
    if "\x00" in value:
        raise ValidationError({field: _("Null characters are not allowed.")})
    if required and not value:
        raise ValidationError({field: _("This field is required.")})
    if len(value) > max_length:
        raise ValidationError(
            {field: _("Use at most %(n)s characters.") % {"n": f"{max_length:,}"}}
        )
    return value


def _clean_https_url(field: str, value, *, required: bool) -> str:
    value = _clean_text(field, value, max_length=2000, required=required)
    if value:
        # http:// only where outbound fetches may reach this machine (development, tests).
        validator = _http_or_https if settings.ALLOW_PRIVATE_OUTBOUND else _https
        try:
            validator(value)
        except ValidationError:
            raise ValidationError({field: _("Enter an https:// URL.")}) from None
    return value


def _clean_role(field: str, value) -> str:
    try:
        role = Role(value)
    except ValueError:
        raise ValidationError(
            {field: _("Choose one of: %(roles)s.") % {"roles": ", ".join(Role.values[1:])}}
        ) from None
    if role == Role.OWNER:
        raise ValidationError({field: _("Single sign-on never makes anyone an owner.")})
    return role.value


def _clean_group_mapping(value) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError({"group_role_mapping": _("Map group names to roles.")})
    if len(value) > GROUP_MAPPING_MAX:
        raise ValidationError(
            {"group_role_mapping": _("Map at most %(n)s groups.") % {"n": GROUP_MAPPING_MAX}}
        )
    mapping = {}
    for group, role in value.items():
        group = _clean_text("group_role_mapping", group, max_length=255, required=True)
        mapping[group] = _clean_role("group_role_mapping", role)
    return mapping


# --- domains --------------------------------------------------------------------------


def _claim(*, organization: Organization, actor: User | None, name: str) -> SsoDomain:
    """The organization's claim on the canonical ``name``, made (and audited) if new."""
    domain = SsoDomain.objects.filter(organization=organization, name=name).first()
    if domain is not None:
        return domain
    domain = SsoDomain.objects.create(organization=organization, name=name, created_by=actor)
    audit_record(
        organization=organization,
        actor=actor,
        action="sso.domain_claimed",
        target=_domain_target(domain),
        after={"domain": display_domain(name)},
    )
    return domain


@transaction.atomic
def domain_claim(*, organization: Organization, actor: User, domain: str) -> SsoDomain:
    """Claim ``domain``: it gets a TXT token to publish; it routes nothing until verified."""
    org = _lock_org(organization)
    _require_manager(organization=org, actor=actor)
    name = normalize_domain(domain)
    if SsoDomain.objects.filter(organization=org, name=name).exists():
        raise ValidationError({"domain": _("This organization has already claimed that domain.")})
    return _claim(organization=org, actor=actor, name=name)


@transaction.atomic
def domain_remove(*, domain: SsoDomain, actor: User) -> None:
    org = _lock_org(domain.organization)
    _require_manager(organization=org, actor=actor)
    domain = SsoDomain.objects.select_for_update().get(pk=domain.pk)
    audit_record(
        organization=org,
        actor=actor,
        action="sso.domain_removed",
        target=_domain_target(domain),
        before={"domain": display_domain(domain.name), "verified": domain.is_verified},
    )
    domain.delete()


def _look_up(domain: SsoDomain) -> tuple[str, tuple[str, dict]]:
    """(result, (detail code, its params)) of looking for the domain's token right now
    (the detail is a code of hypereal_site.reasons, translated when shown)."""
    try:
        values = dnscheck.txt_values(domain.record_name)
    except dnscheck.DnsLookupError as exc:  # a technical detail, in English
        return SsoDomain.CheckResult.LOOKUP_FAILED, ("dns_lookup_failed", {"error": str(exc)[:200]})
    if domain.token in values:
        return SsoDomain.CheckResult.FOUND, ("", {})
    if values:
        return SsoDomain.CheckResult.MISSING, ("txt_other_value", {})
    return SsoDomain.CheckResult.MISSING, ("txt_missing", {"name": domain.record_name})


def domain_verify(*, domain: SsoDomain, actor: User) -> SsoDomain:
    """Look the record up now; verify the domain if it holds the token.

    A domain another organization holds verified stays theirs: ``domain_taken`` (409).
    A failed look-up changes nothing but the last check's result.
    """
    _require_manager(organization=domain.organization, actor=actor)
    result, detail = _look_up(domain)  # outside the transaction: no lock held during DNS
    now = timezone.now()
    with transaction.atomic():
        org = _lock_org(domain.organization)
        _require_manager(organization=org, actor=actor)
        domain = SsoDomain.objects.select_for_update().get(pk=domain.pk)
        domain.last_checked_at = now
        domain.last_check_result = result
        domain.last_check_code, domain.last_check_params = detail
        fields = ["last_checked_at", "last_check_result", "last_check_code", "last_check_params"]
        if result == SsoDomain.CheckResult.FOUND:
            if domain.verified_at is None and selectors.domain_verified_elsewhere(domain=domain):
                result = SsoDomain.CheckResult.TAKEN
            elif domain.verified_at is None:
                domain.verified_at = now
                fields.append("verified_at")
                try:
                    with transaction.atomic():
                        domain.save(update_fields=fields)
                except IntegrityError:  # verified elsewhere at this very moment
                    domain.verified_at = None
                    fields.remove("verified_at")
                    result = SsoDomain.CheckResult.TAKEN
                else:
                    audit_record(
                        organization=org,
                        actor=actor,
                        action="sso.domain_verified",
                        target=_domain_target(domain),
                        after={"domain": display_domain(domain.name)},
                    )
                    return domain
            elif domain.missing_since is not None:
                domain.missing_since = None
                fields.append("missing_since")
                audit_record(
                    organization=org,
                    actor=actor,
                    action="sso.domain_record_restored",
                    target=_domain_target(domain),
                    after={"domain": display_domain(domain.name)},
                )
        if result == SsoDomain.CheckResult.TAKEN:
            domain.last_check_result = result
            domain.last_check_code, domain.last_check_params = "domain_taken", {}
        domain.save(update_fields=fields)
    if result == SsoDomain.CheckResult.TAKEN:
        raise ApplicationError(
            "domain_taken",
            _("Another organization has verified %(domain)s; it can be verified by one only.")
            % {"domain": display_domain(domain.name)},
            status=409,
        )
    return domain


def domain_recheck(*, domain_id: int) -> str:
    """The daily re-check of a verified domain (beat, no actor). Returns what happened.

    Record found: nothing changes (a grace period ends). Missing, or the look-up failed:
    the grace period starts (owners are emailed once), and once it has lasted
    ``SSO_DOMAIN_GRACE_DAYS`` the domain is unverified (owners are emailed again).
    """
    domain = SsoDomain.objects.filter(pk=domain_id, verified_at__isnull=False).first()
    if domain is None:
        return "not-verified"
    result, detail = _look_up(domain)
    now = timezone.now()
    grace = timedelta(days=settings.SSO_DOMAIN_GRACE_DAYS)
    with transaction.atomic():
        domain = (
            SsoDomain.objects.select_for_update()
            .select_related("organization")
            .filter(pk=domain_id, verified_at__isnull=False)
            .first()
        )
        if domain is None:
            return "not-verified"
        org = domain.organization
        domain.last_checked_at = now
        domain.last_check_result = result
        domain.last_check_code, domain.last_check_params = detail
        fields = ["last_checked_at", "last_check_result", "last_check_code", "last_check_params"]
        outcome = "ok"
        if result == SsoDomain.CheckResult.FOUND:
            if domain.missing_since is not None:
                domain.missing_since = None
                fields.append("missing_since")
                outcome = "restored"
                audit_record(
                    organization=org,
                    actor=None,
                    action="sso.domain_record_restored",
                    target=_domain_target(domain),
                    after={"domain": display_domain(domain.name)},
                )
        elif domain.missing_since is None:
            domain.missing_since = now
            fields.append("missing_since")
            outcome = "grace-started"
            audit_record(
                organization=org,
                actor=None,
                action="sso.domain_record_missing",
                target=_domain_target(domain),
                after={"domain": display_domain(domain.name), "grace_days": grace.days},
            )
        elif now - domain.missing_since >= grace:
            domain.verified_at = None
            domain.missing_since = None
            fields += ["verified_at", "missing_since"]
            outcome = "unverified"
            audit_record(
                organization=org,
                actor=None,
                action="sso.domain_unverified",
                target=_domain_target(domain),
                before={"domain": display_domain(domain.name), "verified": True},
                # The reason as the audit log reads it: {"code": …, …params}.
                after={
                    "verified": False,
                    "reason": reason_payload(*detail) if detail[0] else result,
                },
            )
        else:
            outcome = "in-grace"
        domain.save(update_fields=fields)
    # Mail after commit, from this process (the beat's task). While the grace period lasts
    # every re-check asks again and ``send_once`` sends only the first time, so a failed
    # send is retried by the next check.
    if outcome in ("grace-started", "in-grace"):
        _email_owners(domain_id=domain.pk, kind="missing", moment=domain.missing_since.isoformat())
    elif outcome == "unverified":
        _email_owners(domain_id=domain.pk, kind="unverified", moment=now.isoformat())
    return outcome


def _email_owners(*, domain_id: int, kind: str, moment: str) -> None:
    """Tell the organization's owners that a verified domain's record is gone (once per
    occasion: ``send_once``, keyed by the domain and the moment the occasion began)."""
    domain = SsoDomain.objects.select_related("organization").filter(pk=domain_id).first()
    if domain is None:
        return
    org = domain.organization
    recipients = [user.email for user in org_owners(organization=org)]
    grace_days = settings.SSO_DOMAIN_GRACE_DAYS
    context = {
        "organization": org,
        "domain": display_domain(domain.name),
        "record": selectors.txt_record(domain),
        "grace_days": grace_days,
        "deadline": (domain.missing_since + timedelta(days=grace_days))
        if domain.missing_since
        else None,
        "unverified": kind == "unverified",
        "settings_url": f"{settings.SITE_URL}/settings/organization/sso",
        "site_name": settings.SITE_NAME,
    }
    digest = hashlib.sha256(moment.encode()).hexdigest()[:16]
    send_once(
        key=f"sso-domain:{kind}:{domain.pk}:{digest}",
        recipients=recipients,
        render=lambda: (
            render_to_string("sso/email/domain_subject.txt", context).strip(),
            render_to_string("sso/email/domain_message.txt", context),
        ),
    )


# --- connections ----------------------------------------------------------------------

#: Fields whose change makes the last save-time check stale.
_CHECKED_FIELDS = ("type", "metadata_xml", "metadata_url", "oidc_issuer", "oidc_client_id")


def _clean_metadata_xml(value) -> str:
    xml = _clean_text("metadata_xml", value, max_length=METADATA_XML_MAX)
    if xml and not xml.startswith("<"):
        raise ValidationError({"metadata_xml": _("Paste the IdP's metadata XML document.")})
    return xml


def _clean_connection_fields(changes: dict) -> dict:
    """Validate each given field on its own (the combination is checked afterwards)."""
    cleaned = {}
    for field, value in changes.items():
        if field == "type":
            if value not in SsoConnection.Type.values:
                raise ValidationError({"type": _("Choose saml or oidc.")})
            cleaned[field] = value
        elif field == "metadata_xml":
            cleaned[field] = _clean_metadata_xml(value)
        elif field in ("metadata_url", "oidc_issuer"):
            cleaned[field] = _clean_https_url(field, value, required=False)
        elif field == "oidc_client_id":
            cleaned[field] = _clean_text(field, value, max_length=255)
        elif field == "client_secret":
            cleaned[field] = _clean_text(field, value, max_length=2000)
        elif field in (
            "attribute_email",
            "attribute_first_name",
            "attribute_last_name",
            "attribute_groups",
        ):
            cleaned[field] = _clean_text(field, value, max_length=255)
        elif field == "default_role":
            cleaned[field] = _clean_role(field, value)
        elif field == "group_role_mapping":
            cleaned[field] = _clean_group_mapping(value)
        elif field in (
            "enabled",
            "jit_enabled",
            "enforce",
            "idp_initiated",
            "require_signed_assertions",
        ):
            if not isinstance(value, bool):
                raise ValidationError({field: _("Must be true or false.")})
            cleaned[field] = value
        else:
            raise ValidationError({field: _("Unknown field.")})
    if cleaned.get("attribute_email") == "" and "attribute_email" in changes:
        raise ValidationError({"attribute_email": _("Name the attribute that holds the email.")})
    return cleaned


def _check_combination(connection: SsoConnection, *, secret_set: bool) -> None:
    if connection.type == SsoConnection.Type.OIDC:
        errors = {}
        if not connection.oidc_issuer:
            errors["oidc_issuer"] = _("Enter the issuer URL.")
        if not connection.oidc_client_id:
            errors["oidc_client_id"] = _("Enter the client id.")
        if not secret_set:
            errors["client_secret"] = _("Enter the client secret.")
        if errors:
            raise ValidationError(errors)
    else:
        if bool(connection.metadata_xml) == bool(connection.metadata_url):
            raise ValidationError(
                {"metadata_xml": _("Give either the metadata XML or the metadata URL.")}
            )


def _attach_domains(
    *, connection: SsoConnection, organization: Organization, actor: User, names: list[str]
) -> list[str]:
    """Route exactly ``names`` (canonical) to ``connection``, claiming any not yet claimed."""
    domains = []
    for name in names:
        domain = _claim(organization=organization, actor=actor, name=name)
        if domain.connection_id not in (None, connection.pk):
            raise ValidationError(
                {
                    "domain": _("%(domain)s already routes to another connection.")
                    % {"domain": display_domain(name)}
                }
            )
        domains.append(domain)
    SsoDomain.objects.filter(connection=connection).exclude(pk__in=[d.pk for d in domains]).update(
        connection=None
    )
    SsoDomain.objects.filter(pk__in=[d.pk for d in domains]).update(connection=connection)
    return [display_domain(d.name) for d in domains]


def _clean_domains(domains) -> list[str]:
    if isinstance(domains, str):
        domains = [domains]
    if not isinstance(domains, list) or not domains:
        raise ValidationError({"domain": _("Name at least one domain.")})
    if len(domains) > 50:
        raise ValidationError({"domain": _("Use at most 50 domains per connection.")})
    names = []
    for raw in domains:
        name = normalize_domain(raw)
        if name not in names:
            names.append(name)
    return names


def _audit_view(connection: SsoConnection) -> dict:
    """The connection as the audit log records it: settings, never secrets or documents."""
    view = {
        "type": connection.type,
        "enabled": connection.enabled,
        "jit_enabled": connection.jit_enabled,
        "default_role": connection.default_role,
        "group_role_mapping": [
            f"{group} → {role}" for group, role in sorted(connection.group_role_mapping.items())
        ],
        "enforce": connection.enforce,
        "idp_initiated": connection.idp_initiated,
        "require_signed_assertions": connection.require_signed_assertions,
        "attribute_email": connection.attribute_email,
        "attribute_first_name": connection.attribute_first_name,
        "attribute_last_name": connection.attribute_last_name,
        "attribute_groups": connection.attribute_groups,
        "metadata_url": connection.metadata_url,
        "metadata_xml_sha256": (
            hashlib.sha256(connection.metadata_xml.encode()).hexdigest()[:12]
            if connection.metadata_xml
            else ""
        ),
        "oidc_issuer": connection.oidc_issuer,
        "oidc_client_id": connection.oidc_client_id,
        "client_secret_set": bool(connection.oidc_client_secret),
    }
    if connection.pk:
        view["domains"] = [display_domain(d.name) for d in connection.domains.order_by("name")]
        view["break_glass_owners"] = [
            m.user.email for m in connection.break_glass_owners.select_related("user")
        ]
    return view


def _set_break_glass(connection: SsoConnection, organization: Organization, member_ids) -> None:
    if not isinstance(member_ids, list) or not all(isinstance(m, str) for m in member_ids):
        raise ValidationError({"break_glass_owners": _("Give a list of member ids.")})
    if len(member_ids) > 100:
        raise ValidationError({"break_glass_owners": _("Name at most 100 members.")})
    members = list(
        Membership.objects.filter(organization=organization, public_id__in=set(member_ids))
    )
    if len(members) != len(set(member_ids)):
        raise ValidationError({"break_glass_owners": _("No such member in this organization.")})
    if any(m.role != Role.OWNER for m in members):
        raise ValidationError({"break_glass_owners": _("Only owners can be break-glass owners.")})
    connection.break_glass_owners.set(members)


def _check_enforcement(connection: SsoConnection) -> None:
    if connection.enforce and not selectors.break_glass_owners(connection=connection):
        raise ValidationError(
            {
                "enforce": _(
                    "Name at least one break-glass owner before enforcing SSO, so that "
                    "someone can still sign in if the identity provider fails."
                )
            }
        )


def _run_check(values: dict):
    """The save-time check of a connection described by ``values`` (the model's field names),
    before any transaction: a CheckOutcome (OIDC) or a SamlMetadata (SAML), None when there
    is nothing to check yet. Invalid SAML metadata raises the field's ValidationError."""
    if values.get("type") == SsoConnection.Type.OIDC:
        if not values.get("oidc_issuer"):
            return None
        return checks.oidc_check(values["oidc_issuer"])
    if values.get("metadata_xml") or values.get("metadata_url"):
        return checks.saml_check(
            xml=values.get("metadata_xml") or "", url=values.get("metadata_url") or ""
        )
    return None


def _apply_check(connection: SsoConnection, result) -> None:
    if result is None:
        connection.check_status, connection.check_reason, connection.checked_at = "", "", None
        connection.check_detail_code, connection.check_detail_params = "", {}
        return
    outcome = result
    if isinstance(result, checks.SamlMetadata):
        connection.saml_entity_id = result.entity_id[:1024]
        connection.saml_sso_url = result.sso_url[:2000]
        connection.saml_certificate = result.certificate
        connection.saml_certificate_next = result.certificate_next
        outcome = result.outcome
    connection.check_status = outcome.status
    connection.check_reason = outcome.code[:40]
    connection.check_detail_code, connection.check_detail_params = (
        outcome.detail,
        dict(outcome.params or {}),
    )
    connection.checked_at = timezone.now()


def connection_create(
    *,
    organization: Organization,
    actor: User,
    type: str,
    domains,
    client_secret: str | None = None,
    **fields,
) -> SsoConnection:
    """A new connection routing ``domains`` (claimed here if new), with its save-time check
    (run first, outside the transaction)."""
    cleaned = _clean_connection_fields({"type": type, **fields})
    if (
        type == SsoConnection.Type.SAML
        and cleaned.get("metadata_xml")
        and cleaned.get("metadata_url")
    ):
        result = None  # refused below as a combination error
    else:
        result = _run_check(cleaned)
    return _connection_create(
        organization=organization,
        actor=actor,
        type=type,
        domains=domains,
        client_secret=client_secret,
        check=result,
        **fields,
    )


@transaction.atomic
def _connection_create(
    *,
    organization: Organization,
    actor: User,
    type: str,
    domains,
    client_secret: str | None,
    check,
    **fields,
) -> SsoConnection:
    org = _lock_org(organization)
    _require_manager(organization=org, actor=actor)
    cleaned = _clean_connection_fields({"type": type, **fields})
    secret = None
    if client_secret is not None:
        secret = _clean_connection_fields({"client_secret": client_secret})["client_secret"]
    names = _clean_domains(domains)
    connection = SsoConnection(organization=org, created_by=actor, **cleaned)
    if connection.type == SsoConnection.Type.OIDC and secret:
        connection.oidc_client_secret = crypto.encrypt(secret)
    if connection.type == SsoConnection.Type.SAML:
        connection.oidc_issuer = connection.oidc_client_id = connection.oidc_client_secret = ""
    else:
        connection.metadata_xml = connection.metadata_url = ""
    _check_combination(connection, secret_set=bool(connection.oidc_client_secret))
    if connection.enforce:
        raise ValidationError(
            {"enforce": _("Create the connection first, then name break-glass owners.")}
        )
    _apply_check(connection, check)
    connection.save()
    _attach_domains(connection=connection, organization=org, actor=actor, names=names)
    audit_record(
        organization=org,
        actor=actor,
        action="sso.connection_created",
        target=_connection_target(connection),
        after=_audit_view(connection),
    )
    return connection


def connection_update(
    *,
    connection: SsoConnection,
    actor: User,
    domains=None,
    break_glass_owners=None,
    client_secret: str | None = None,
    **fields,
) -> SsoConnection:
    """Change any of the connection's settings. Changing what the check looks at (type,
    metadata, issuer, client id, secret) runs the check again, before the transaction."""
    cleaned = _clean_connection_fields(fields)
    values = {f: getattr(connection, f) for f in _CHECKED_FIELDS}
    values.update({k: v for k, v in cleaned.items() if k in _CHECKED_FIELDS})
    if values["type"] == SsoConnection.Type.SAML:
        if cleaned.get("metadata_xml") and "metadata_url" not in cleaned:
            values["metadata_url"] = ""
        if cleaned.get("metadata_url") and "metadata_xml" not in cleaned:
            values["metadata_xml"] = ""
    changed = any(values[f] != getattr(connection, f) for f in _CHECKED_FIELDS)
    checked = None
    secret_given = bool(client_secret) and values["type"] == SsoConnection.Type.OIDC
    both_sources = bool(values.get("metadata_xml") and values.get("metadata_url"))
    if (changed or secret_given) and not both_sources:
        checked = (values, _run_check(values))
    return _connection_update(
        connection=connection,
        actor=actor,
        domains=domains,
        break_glass_owners=break_glass_owners,
        client_secret=client_secret,
        checked=checked,
        **fields,
    )


@transaction.atomic
def _connection_update(
    *,
    connection: SsoConnection,
    actor: User,
    domains,
    break_glass_owners,
    client_secret: str | None,
    checked,
    **fields,
) -> SsoConnection:
    org = _lock_org(connection.organization)
    _require_manager(organization=org, actor=actor)
    connection = SsoConnection.objects.select_for_update().get(pk=connection.pk)
    before = _audit_view(connection)
    checked_before = [getattr(connection, f) for f in _CHECKED_FIELDS]
    cleaned = _clean_connection_fields(fields)
    for field, value in cleaned.items():
        setattr(connection, field, value)
    secret_changed = False
    if client_secret is not None:
        secret = _clean_connection_fields({"client_secret": client_secret})["client_secret"]
        if secret:  # an empty secret keeps the one stored (forms never show it back)
            connection.oidc_client_secret = crypto.encrypt(secret)
            secret_changed = True
    if connection.type == SsoConnection.Type.SAML:
        connection.oidc_issuer = connection.oidc_client_id = connection.oidc_client_secret = ""
        # Giving one of the two metadata sources replaces the other.
        if cleaned.get("metadata_xml") and "metadata_url" not in cleaned:
            connection.metadata_url = ""
        if cleaned.get("metadata_url") and "metadata_xml" not in cleaned:
            connection.metadata_xml = ""
    else:
        connection.metadata_xml = connection.metadata_url = ""
        connection.saml_entity_id = connection.saml_sso_url = ""
        connection.saml_certificate = connection.saml_certificate_next = ""
    _check_combination(connection, secret_set=bool(connection.oidc_client_secret))
    if secret_changed or checked_before != [getattr(connection, f) for f in _CHECKED_FIELDS]:
        # The check ran on what is being saved, unless the row changed meanwhile: then
        # its result is cleared rather than attached to values it did not look at.
        if checked is not None and all(
            checked[0][f] == getattr(connection, f) for f in _CHECKED_FIELDS
        ):
            _apply_check(connection, checked[1])
        else:
            _apply_check(connection, None)
    connection.updated_at = timezone.now()
    connection.save()
    if domains is not None:
        _attach_domains(
            connection=connection, organization=org, actor=actor, names=_clean_domains(domains)
        )
    if break_glass_owners is not None:
        _set_break_glass(connection, org, break_glass_owners)
    _check_enforcement(connection)
    after = _audit_view(connection)
    changed = [k for k in after if before.get(k) != after[k]]
    if secret_changed:
        changed.append("client_secret_set")
    if changed:
        audit_record(
            organization=org,
            actor=actor,
            action="sso.connection_updated",
            target=_connection_target(connection),
            before={k: before.get(k) for k in changed},
            after={k: (True if k == "client_secret_set" else after[k]) for k in changed},
        )
    return connection


@transaction.atomic
def connection_delete(*, connection: SsoConnection, actor: User) -> None:
    """Delete the connection; its domains stay claimed (and verified), routing nothing."""
    org = _lock_org(connection.organization)
    _require_manager(organization=org, actor=actor)
    connection = SsoConnection.objects.select_for_update().get(pk=connection.pk)
    audit_record(
        organization=org,
        actor=actor,
        action="sso.connection_deleted",
        target=_connection_target(connection),
        before=_audit_view(connection),
    )
    connection.delete()


def org_sso_close(*, organization: Organization, actor: User | None) -> None:
    """An organization is closing (``orgs.signals.organization_closing``, inside its
    transaction): its connections go and its domain claims are released, so a verified
    domain does not stay locked to an organization nobody can use."""
    for connection in SsoConnection.objects.select_for_update().filter(organization=organization):
        audit_record(
            organization=organization,
            actor=actor,
            action="sso.connection_deleted",
            target=_connection_target(connection),
            before=_audit_view(connection),
        )
        connection.delete()
    for domain in SsoDomain.objects.select_for_update().filter(organization=organization):
        audit_record(
            organization=organization,
            actor=actor,
            action="sso.domain_removed",
            target=_domain_target(domain),
            before={"domain": display_domain(domain.name), "verified": domain.is_verified},
        )
        domain.delete()


# --- break-glass use ------------------------------------------------------------------


def break_glass_used(*, user: User, connections: list[SsoConnection], method: str) -> None:
    """``user`` signed in with a password (and ``method``, their second factor) while SSO is
    enforced, as a break-glass owner of ``connections``: one audit event per organization,
    and its owners are emailed after commit (``send_once`` per sign-in)."""
    moment = timezone.now()
    with transaction.atomic():
        for connection in connections:
            audit_record(
                organization=connection.organization,
                actor=user,
                action="sso.break_glass_used",
                target=_connection_target(connection),
                after={"email": user.email, "second_factor": method},
            )
            transaction.on_commit(
                lambda c=connection: _email_break_glass(
                    connection_id=c.pk, user_email=user.email, moment=moment.isoformat()
                )
            )


def _email_break_glass(*, connection_id: int, user_email: str, moment: str) -> None:
    connection = (
        SsoConnection.objects.select_related("organization").filter(pk=connection_id).first()
    )
    if connection is None:
        return
    org = connection.organization
    context = {
        "organization": org,
        "email": user_email,
        "moment": moment,
        "audit_url": f"{settings.SITE_URL}/settings/organization/audit",
        "settings_url": f"{settings.SITE_URL}/settings/organization/sso/{connection.provider_id}",
        "site_name": settings.SITE_NAME,
    }
    digest = hashlib.sha256(f"{user_email}|{moment}".encode()).hexdigest()[:16]
    try:
        send_once(
            key=f"sso-break-glass:{connection.pk}:{digest}",
            recipients=[u.email for u in org_owners(organization=org)],
            render=lambda: (
                render_to_string("sso/email/break_glass_subject.txt", context).strip(),
                render_to_string("sso/email/break_glass_message.txt", context),
            ),
        )
    except Exception:  # the sign-in has happened; a failed mail must not undo it
        logger.exception("break-glass mail failed", extra={"connection": connection.pk})
