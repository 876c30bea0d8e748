"""Every change to ``ck_`` keys and service tokens. Each audits in its transaction and
invalidates the shared verification cache after commit."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from billing import catalog
from billing.money import format_credits
from hypereal_site.api.errors import ApplicationError
from hypereal_site.reasons import REASONS, reason_payload
from orgs.audit import Target, audit_record, target_of
from orgs.models import Organization
from orgs.permissions import Perm, role_allows
from orgs.selectors import membership_get

from . import keyformat, verification
from .models import ApiKey, OwnerRateLimit, ServiceToken
from .signals import key_disabled

MAX_ROTATION_GRACE = timedelta(hours=24)


_UNSET = object()


class _OrgDefault:
    def __repr__(self) -> str:
        return "ORG_DEFAULT"


#: ``apikey_create(spending_limit_microcredits=ORG_DEFAULT)``: start at the owner's
#: default cap for new keys (``None`` there means no default, hence no cap).
ORG_DEFAULT = _OrgDefault()


class CapDenied(ApplicationError):
    """A budget decision (Perm.KEYS_CAP_RAISE) the actor's role may not take. ``field`` is
    the input it concerns (API name), so a form can show it beside that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__("permission_denied", message, status=403)
        self.field = field


def _may_raise_caps(organization: Organization, actor: User | None) -> bool:
    """Owners and admins (and a personal account's user) decide how much a key may spend."""
    if actor is None:
        return False
    membership = membership_get(organization=organization, user=actor)
    return membership is not None and role_allows(membership.role, Perm.KEYS_CAP_RAISE)


def _org_default_limit(organization: Organization) -> int | None:
    # Read fresh: the default may have changed since the caller loaded the organization.
    return (
        Organization.objects.filter(pk=organization.pk)
        .values_list("default_key_spending_limit_microcredits", flat=True)
        .first()
    )


def _check_create_cap(organization: Organization, actor: User, limit: int | None) -> None:
    if _may_raise_caps(organization, actor):
        return
    default = _org_default_limit(organization)
    if limit is None:
        raise CapDenied(
            "spendingLimit",
            _("Only an owner or an admin can create a key without a monthly limit."),
        )
    if default is not None and limit > default:
        raise CapDenied(
            "spendingLimit",
            _(
                "Only an owner or an admin can set a monthly limit above the default of "
                "%(default)s credits."
            )
            % {"default": format_credits(default)},
        )


def _check_update_cap(key: ApiKey, actor: User, limit=None, auto_disable=None) -> None:
    """``limit``/``auto_disable`` are the new values (``_UNSET`` when not changing)."""
    old = key.spending_limit_microcredits
    raises = limit is not _UNSET and (
        (limit is None and old is not None) or (None not in (limit, old) and limit > old)
    )
    turns_off = auto_disable is not _UNSET and key.auto_disable and not auto_disable
    if not (raises or turns_off) or _may_raise_caps(key.organization, actor):
        return
    if raises:
        raise CapDenied(
            "spendingLimit",
            _("Only an owner or an admin can raise or remove a key's monthly limit.")
            if limit is not None
            else _("Only an owner or an admin can remove a key's monthly limit."),
        )
    raise CapDenied(
        "autoDisable", _("Only an owner or an admin can turn off a key's auto-disable.")
    )


def _name_taken(organization: Organization, name: str, exclude: ApiKey | None = None) -> bool:
    keys = ApiKey.objects.annotate(lname=Lower("name")).filter(
        organization=organization, revoked_at__isnull=True, lname=name.lower()
    )
    if exclude is not None:
        keys = keys.exclude(pk=exclude.pk)
    return keys.exists()


def _name_taken_error(name: str) -> ValidationError:
    return ValidationError(
        {
            "name": _(
                "An active key named “%(name)s” already exists. Revoking asks for the name, "
                "so choose another."
            )
            % {"name": name}
        }
    )


def _save_unique_name(key: ApiKey, **save_kwargs) -> None:
    """Save ``key``; a concurrent key with the same name (the database's partial unique
    constraint) becomes the same field error as the check before it."""
    try:
        with transaction.atomic():
            key.save(**save_kwargs)
    except IntegrityError:
        if _name_taken(key.organization, key.name, exclude=key if key.pk else None):
            raise _name_taken_error(key.name) from None
        raise


def _target(key: ApiKey) -> Target:
    return Target("api_key", key.public_id, f"{key.name} ({key.masked})")


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the key a name, e.g. prod-eu.")})
    if len(name) > 100:
        raise ValidationError({"name": _("Use at most 100 characters.")})
    return name


def _clean_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if limit <= 0:
        raise ValidationError({"spendingLimit": _("The monthly limit must be more than zero.")})
    return int(limit)


def _clean_expiry(expires_at):
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expiresAt": _("The expiry must be in the future.")})
    return expires_at


def _clean_models(models: list[str] | None) -> list[str]:
    if not models:
        return []
    data = catalog.snapshot()
    canonical, unknown = [], []
    for model in models:
        row = catalog.resolve(str(model), data)
        if row is None:
            unknown.append(str(model))
        elif row["model_id"] not in canonical:
            canonical.append(row["model_id"])
    if unknown:
        raise ValidationError(
            {"allowedModels": _("Unknown model(s): %(models)s.") % {"models": ", ".join(unknown)}}
        )
    return sorted(canonical)


def _snapshot(key: ApiKey) -> dict:
    return {
        "name": key.name,
        "spending_limit_microcredits": key.spending_limit_microcredits,
        "auto_disable": key.auto_disable,
        "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        "allowed_models": key.allowed_models,
        "status": key.status,
    }


@transaction.atomic
def apikey_create(
    *,
    organization: Organization,
    actor: User,
    name: str,
    spending_limit_microcredits=ORG_DEFAULT,
    auto_disable: bool = False,
    expires_at=None,
    allowed_models: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with its plaintext, which is shown once and never stored.

    Without ``spending_limit_microcredits`` the key starts at the owner's default cap;
    ``None`` asks for no cap. Only roles with Perm.KEYS_CAP_RAISE may create a key without
    a cap or above the default (403 ``permission_denied``, raised as ``CapDenied``)."""
    if organization.is_deleted:
        raise ApplicationError("not_found", _("No such organization."), status=404)
    name = _clean_name(name)
    if spending_limit_microcredits is ORG_DEFAULT:
        limit = _org_default_limit(organization)
    else:
        limit = _clean_limit(spending_limit_microcredits)
    _check_create_cap(organization, actor, limit)
    if _name_taken(organization, name):
        raise _name_taken_error(name)
    plaintext = keyformat.generate_key()
    key = ApiKey(
        organization=organization,
        created_by=actor,
        name=name,
        masked=keyformat.masked(plaintext),
        secret_hash=keyformat.hash_secret(plaintext),
        spending_limit_microcredits=limit,
        auto_disable=bool(auto_disable),
        expires_at=_clean_expiry(expires_at),
        allowed_models=_clean_models(allowed_models),
    )
    _save_unique_name(key, force_insert=True)
    audit_record(
        organization=organization,
        actor=actor,
        action="key.created",
        target=_target(key),
        after=_snapshot(key),
    )
    return key, plaintext


@transaction.atomic
def apikey_update(
    *,
    key: ApiKey,
    actor: User,
    name=_UNSET,
    spending_limit_microcredits=_UNSET,
    auto_disable=_UNSET,
    expires_at=_UNSET,
    allowed_models=_UNSET,
) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.status == ApiKey.Status.REVOKED:
        raise ApplicationError("key_revoked", _("A revoked key cannot be changed."), status=409)
    before = _snapshot(key)
    if spending_limit_microcredits is not _UNSET:
        spending_limit_microcredits = _clean_limit(spending_limit_microcredits)
    if auto_disable is not _UNSET:
        auto_disable = bool(auto_disable)
    _check_update_cap(key, actor, limit=spending_limit_microcredits, auto_disable=auto_disable)
    if name is not _UNSET:
        key.name = _clean_name(name)
        if key.name != before["name"] and _name_taken(key.organization, key.name, exclude=key):
            raise _name_taken_error(key.name)
    if spending_limit_microcredits is not _UNSET:
        key.spending_limit_microcredits = spending_limit_microcredits
    if auto_disable is not _UNSET:
        key.auto_disable = auto_disable
    if expires_at is not _UNSET:
        key.expires_at = _clean_expiry(expires_at)
    if allowed_models is not _UNSET:
        key.allowed_models = _clean_models(allowed_models)
    after = _snapshot(key)
    if after == before:
        return key
    _save_unique_name(key)
    changed = [k for k in after if after[k] != before[k]]
    audit_record(
        organization=key.organization,
        actor=actor,
        action="key.updated",
        target=_target(key),
        before={k: before[k] for k in changed},
        after={k: after[k] for k in changed},
    )
    verification.invalidate_keys([key])
    return key


@transaction.atomic
def apikey_rotate(*, key: ApiKey, actor: User, grace_seconds: int = 0) -> tuple[ApiKey, str]:
    """A new secret. The old one keeps working for ``grace_seconds`` (at most 24 h)."""
    grace = timedelta(seconds=int(grace_seconds or 0))
    if grace < timedelta(0) or grace > MAX_ROTATION_GRACE:
        raise ValidationError({"gracePeriodSeconds": _("Between 0 and 86400 seconds.")})
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.status == ApiKey.Status.REVOKED:
        raise ApplicationError("key_revoked", _("A revoked key cannot be rotated."), status=409)
    old_hashes = [key.secret_hash, key.previous_secret_hash]
    plaintext = keyformat.generate_key()
    if grace:
        key.previous_secret_hash = key.secret_hash
        key.previous_valid_until = timezone.now() + grace
    else:
        key.previous_secret_hash = None
        key.previous_valid_until = None
    key.secret_hash = keyformat.hash_secret(plaintext)
    key.masked = keyformat.masked(plaintext)
    key.save(
        update_fields=["previous_secret_hash", "previous_valid_until", "secret_hash", "masked"]
    )
    audit_record(
        organization=key.organization,
        actor=actor,
        action="key.rotated",
        target=_target(key),
        after={"grace_seconds": int(grace.total_seconds())},
    )
    verification.invalidate_hashes([h for h in old_hashes if h])
    return key, plaintext


@transaction.atomic
def apikey_revoke(*, key: ApiKey, actor: User | None) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.status == ApiKey.Status.REVOKED:
        return key
    before = key.status
    key.status = ApiKey.Status.REVOKED
    key.revoked_at = timezone.now()
    key.save(update_fields=["status", "revoked_at"])
    audit_record(
        organization=key.organization,
        actor=actor,
        action="key.revoked",
        target=_target(key),
        before={"status": before},
        after={"status": key.status},
    )
    verification.invalidate_keys([key])
    return key


@transaction.atomic
def apikey_enable(*, key: ApiKey, actor: User) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.status != ApiKey.Status.DISABLED:
        raise ApplicationError(
            "invalid_state",
            _("Only a disabled key can be re-enabled (this one is %(status)s).")
            % {"status": key.status},
            status=409,
        )
    key.status = ApiKey.Status.ACTIVE
    key.disabled_code, key.disabled_params = "", {}
    key.save(update_fields=["status", "disabled_code", "disabled_params"])
    audit_record(
        organization=key.organization,
        actor=actor,
        action="key.enabled",
        target=_target(key),
        before={"status": ApiKey.Status.DISABLED},
        after={"status": ApiKey.Status.ACTIVE},
    )
    verification.invalidate_keys([key])
    return key


def apikey_auto_disable_in_transaction(
    *, key_id: int, reason: str, params: dict | None = None
) -> bool:
    """Disable an active key because its cap was reached (no person acted). ``reason`` is
    a code of ``hypereal_site.reasons`` with its ``params``. Inside the caller's
    transaction; True when this call disabled it."""
    if reason not in REASONS:
        raise ValueError(f"unknown reason code {reason!r}")
    params = params or {}
    disabled = ApiKey.objects.filter(pk=key_id, status=ApiKey.Status.ACTIVE).update(
        status=ApiKey.Status.DISABLED, disabled_code=reason, disabled_params=params
    )
    if disabled:
        key = ApiKey.objects.select_related("organization").get(pk=key_id)
        audit_record(
            organization=key.organization,
            actor=None,
            action="key.disabled",
            target=_target(key),
            before={"status": ApiKey.Status.ACTIVE},
            after={"status": ApiKey.Status.DISABLED, "reason": reason_payload(reason, params)},
        )
        verification.invalidate_keys([key])
        key_disabled.send(
            sender=ApiKey, key_id=key.pk, reason=reason, params=params, automatic=True
        )
    return bool(disabled)


def org_keys_revoke_all(*, organization: Organization, actor: User | None) -> int:
    """Revoke every key of ``organization`` (it is being deleted); returns how many."""
    keys = list(
        ApiKey.objects.filter(organization=organization).exclude(status=ApiKey.Status.REVOKED)
    )
    for key in keys:
        apikey_revoke(key=key, actor=actor)
    return len(keys)


# --- the owner's default cap for new keys -------------------------------------------------


@transaction.atomic
def org_default_key_limit_set(
    *, organization: Organization, actor: User, limit_microcredits: int | None
) -> Organization:
    """Set (or clear, with None) the monthly cap new keys start at. Needs
    Perm.KEYS_DEFAULT_CAP (owner, admin, billing); audited with old → new."""
    org = Organization.objects.select_for_update().get(pk=organization.pk)
    membership = membership_get(organization=org, user=actor)
    if membership is None:
        raise ApplicationError("not_found", _("No such organization."), status=404)
    if not role_allows(membership.role, Perm.KEYS_DEFAULT_CAP):
        raise ApplicationError(
            "permission_denied",
            _("Your role (%(role)s) does not allow this.")
            % {"role": membership.get_role_display()},
            status=403,
        )
    if limit_microcredits is not None and limit_microcredits <= 0:
        raise ValidationError(
            {"default_key_spending_limit": _("Enter more than zero credits, or leave it empty.")}
        )
    before = org.default_key_spending_limit_microcredits
    if limit_microcredits == before:
        return org
    org.default_key_spending_limit_microcredits = limit_microcredits
    org.save(update_fields=["default_key_spending_limit_microcredits"])
    audit_record(
        organization=org,
        actor=actor,
        action="org.default_key_limit_changed",
        target=target_of(org),
        before={"default_key_spending_limit_microcredits": before},
        after={"default_key_spending_limit_microcredits": limit_microcredits},
    )
    return org


# --- service tokens ---------------------------------------------------------------------------


def _token_target(token: ServiceToken) -> Target:
    return Target("service_token", token.prefix, token.name)


@transaction.atomic
def service_token_create(*, name: str, actor: User | None = None) -> tuple[ServiceToken, str]:
    """A ``svc_`` token for the inference plane. A platform event: audited with no
    organization (staff read it in the admin); ``actor`` is None from the command line."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Name the token after the service that uses it.")})
    if ServiceToken.objects.filter(name=name).exists():
        raise ValidationError(
            {"name": _("A service token named %(name)s already exists.") % {"name": repr(name)}}
        )
    plaintext = keyformat.generate_service_token()
    token = ServiceToken.objects.create(
        name=name, token_hash=keyformat.hash_secret(plaintext), prefix=plaintext[:8]
    )
    audit_record(
        organization=None,
        actor=actor,
        action="service_token.created",
        target=_token_target(token),
        after={"name": token.name, "prefix": token.prefix},
    )
    return token, plaintext


@transaction.atomic
def service_token_revoke(*, token: ServiceToken, actor: User | None = None) -> ServiceToken:
    token = ServiceToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            organization=None,
            actor=actor,
            action="service_token.revoked",
            target=_token_target(token),
            before={"revoked": False},
            after={"revoked": True},
        )
        verification.invalidate_service_token(token)
    return token


# --- rate limits ------------------------------------------------------------------------------


def _rate_limit_snapshot(limit: OwnerRateLimit | None) -> dict | None:
    if limit is None:
        return None
    return {
        "requests_per_minute": limit.requests_per_minute,
        "tokens_per_minute": limit.tokens_per_minute,
        "note": limit.note,
    }


@transaction.atomic
def owner_rate_limit_save(*, limit: OwnerRateLimit, actor: User | None) -> OwnerRateLimit:
    """Create or change an owner's rate-limit override (staff, in the admin); audited in the
    owner's log with the old and new figures."""
    previous = (
        OwnerRateLimit.objects.select_for_update().filter(pk=limit.pk).first() if limit.pk else None
    )
    before = _rate_limit_snapshot(previous)
    limit.save()
    after = _rate_limit_snapshot(limit)
    if before != after:
        audit_record(
            organization=limit.organization,
            actor=actor,
            action="rate_limit.changed" if previous else "rate_limit.set",
            target=target_of(limit.organization),
            before=before,
            after=after,
        )
    verification.invalidate_organization(limit.organization_id)
    return limit


@transaction.atomic
def owner_rate_limit_delete(*, limit: OwnerRateLimit, actor: User | None) -> None:
    """Remove the override: the owner falls back to the default tier."""
    organization = limit.organization
    audit_record(
        organization=organization,
        actor=actor,
        action="rate_limit.removed",
        target=target_of(organization),
        before=_rate_limit_snapshot(limit),
    )
    limit.delete()
    verification.invalidate_organization(organization.pk)
