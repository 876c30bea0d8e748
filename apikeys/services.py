"""Every change to ``ck_`` keys and service tokens. Each audits in its transaction and
invalidates the shared verification cache after commit."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing import catalog
from hypereal_site.api.errors import ApplicationError
from orgs.audit import Target, audit_record
from orgs.models import Organization

from . import keyformat, verification
from .models import ApiKey, ServiceToken

MAX_ROTATION_GRACE = timedelta(hours=24)


def _target(key: ApiKey):
    return Target("api_key", key.public_id, f"{key.name} ({key.masked})")


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the key a name, e.g. prod-eu."})
    if len(name) > 100:
        raise ValidationError({"name": "Use at most 100 characters."})
    return name


def _clean_limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if limit <= 0:
        raise ValidationError({"spendingLimit": "The monthly limit must be more than zero."})
    return int(limit)


def _clean_expiry(expires_at):
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expiresAt": "The expiry must be in the future."})
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
        raise ValidationError({"allowedModels": f"Unknown model(s): {', '.join(unknown)}."})
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
    spending_limit_microcredits: int | None = None,
    auto_disable: bool = False,
    expires_at=None,
    allowed_models: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with its plaintext, which is shown once and never stored."""
    if organization.is_deleted:
        raise ApplicationError("not_found", "No such organization.", status=404)
    plaintext = keyformat.generate_key()
    key = ApiKey.objects.create(
        organization=organization,
        created_by=actor,
        name=_clean_name(name),
        masked=keyformat.masked(plaintext),
        secret_hash=keyformat.hash_secret(plaintext),
        spending_limit_microcredits=_clean_limit(spending_limit_microcredits),
        auto_disable=bool(auto_disable),
        expires_at=_clean_expiry(expires_at),
        allowed_models=_clean_models(allowed_models),
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="key.created",
        target=_target(key),
        after=_snapshot(key),
    )
    return key, plaintext


_UNSET = object()


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
        raise ApplicationError("key_revoked", "A revoked key cannot be changed.", status=409)
    before = _snapshot(key)
    if name is not _UNSET:
        key.name = _clean_name(name)
    if spending_limit_microcredits is not _UNSET:
        key.spending_limit_microcredits = _clean_limit(spending_limit_microcredits)
    if auto_disable is not _UNSET:
        key.auto_disable = bool(auto_disable)
    if expires_at is not _UNSET:
        key.expires_at = _clean_expiry(expires_at)
    if allowed_models is not _UNSET:
        key.allowed_models = _clean_models(allowed_models)
    after = _snapshot(key)
    if after == before:
        return key
    key.save()
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
        raise ValidationError({"gracePeriodSeconds": "Between 0 and 86400 seconds."})
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.status == ApiKey.Status.REVOKED:
        raise ApplicationError("key_revoked", "A revoked key cannot be rotated.", status=409)
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
            f"Only a disabled key can be re-enabled (this one is {key.status}).",
            status=409,
        )
    key.status = ApiKey.Status.ACTIVE
    key.disabled_reason = ""
    key.save(update_fields=["status", "disabled_reason"])
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


def apikey_auto_disable_in_transaction(*, key_id: int, reason: str) -> bool:
    """Disable an active key because its cap was reached (no person acted). Inside the
    caller's transaction; True when this call disabled it."""
    disabled = ApiKey.objects.filter(pk=key_id, status=ApiKey.Status.ACTIVE).update(
        status=ApiKey.Status.DISABLED, disabled_reason=reason[:255]
    )
    if disabled:
        key = ApiKey.objects.select_related("organization").get(pk=key_id)
        audit_record(
            organization=key.organization,
            actor=None,
            action="key.disabled",
            target=_target(key),
            before={"status": ApiKey.Status.ACTIVE},
            after={"status": ApiKey.Status.DISABLED, "reason": reason},
        )
        verification.invalidate_keys([key])
    return bool(disabled)


def org_keys_revoke_all(*, organization: Organization, actor: User | None) -> int:
    """Revoke every key of ``organization`` (it is being deleted); returns how many."""
    keys = list(
        ApiKey.objects.filter(organization=organization).exclude(status=ApiKey.Status.REVOKED)
    )
    for key in keys:
        apikey_revoke(key=key, actor=actor)
    return len(keys)


# --- service tokens ---------------------------------------------------------------------------


@transaction.atomic
def service_token_create(*, name: str) -> tuple[ServiceToken, str]:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the token after the service that uses it."})
    if ServiceToken.objects.filter(name=name).exists():
        raise ValidationError({"name": f"A service token named {name!r} already exists."})
    plaintext = keyformat.generate_service_token()
    token = ServiceToken.objects.create(
        name=name, token_hash=keyformat.hash_secret(plaintext), prefix=plaintext[:8]
    )
    return token, plaintext


@transaction.atomic
def service_token_revoke(*, token: ServiceToken) -> ServiceToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        verification.invalidate_service_token(token)
    return token
