"""Key verification, the hot path of every gateway request.

A verification answer is built from the database once and kept in the shared cache under
the SHA-256 of the presented secret; every worker reads the same entry. Changes that
matter delete the entries after commit (and once more a second later, closing the window
in which a reader that loaded the old row could write it back), so a revoked key is
refused by every worker within a second. Balances and month spend in the answer are as of
``cached_at``; the entry is also rebuilt when the month changes, and whenever a balance
crosses a limit the ledger invalidates the owner's keys.
"""

import json
import time
from contextvars import ContextVar, Token
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing import catalog
from billing.ledger import wallet_get_or_create
from billing.pricing import TOKEN_ENDPOINTS, min_balance_microcredits
from hypereal_site.api.errors import ApplicationError
from orgs.models import Organization

from . import keyformat
from .models import ApiKey, KeyMonthSpend, OwnerRateLimit, ServiceToken

KEY_CACHE = "verify:v1:{}"
TOKEN_CACHE = "svc:v1:{}"  # noqa: S105 - a cache key pattern
MISSING = "missing"


def _cache_key(secret_hash: str) -> str:
    return KEY_CACHE.format(secret_hash)


def _error(type_: str, message: str, status: int, **extra) -> ApplicationError:
    return ApplicationError(type_, message, status=status, extra=extra)


def _period(now: datetime) -> str:
    return now.strftime("%Y-%m")


def rate_limits_for(organization: Organization) -> dict:
    override = OwnerRateLimit.objects.filter(organization=organization).first()
    if override:
        return {
            "requests_per_minute": override.requests_per_minute,
            "tokens_per_minute": override.tokens_per_minute,
        }
    return dict(settings.RATE_LIMIT_DEFAULT)


def _build(secret_hash: str) -> dict | str:
    now = timezone.now()
    key = (
        ApiKey.objects.select_related("organization", "organization__personal_for", "created_by")
        .filter(Q(secret_hash=secret_hash) | Q(previous_secret_hash=secret_hash))
        .first()
    )
    if key is None:
        return MISSING
    org = key.organization
    wallet = wallet_get_or_create(organization=org)
    period = _period(now)
    spend = (
        KeyMonthSpend.objects.filter(key=key, period=period)
        .values_list("spend_microcredits", flat=True)
        .first()
        or 0
    )
    is_previous = key.secret_hash != secret_hash
    if org.is_personal:
        owner = {"type": "user", "id": org.personal_for.public_id if org.personal_for else None}
    else:
        owner = {"type": "organization", "id": org.public_id}
    return {
        "key": {"id": key.public_id, "name": key.name, "prefix": key.masked},
        "key_pk": key.pk,
        "organization_pk": org.pk,
        "owner": owner,
        "user_id": key.created_by.public_id if key.created_by else None,
        "status": "revoked" if org.is_deleted else key.status,
        "expires_at": key.expires_at.timestamp() if key.expires_at else None,
        "valid_until": key.previous_valid_until.timestamp()
        if is_previous and key.previous_valid_until
        else None,
        "is_previous_secret": is_previous,
        "wallet": {
            "id": wallet.public_id,
            "balance_microcredits": wallet.balance_microcredits,
            "available_microcredits": wallet.available_microcredits,
        },
        "spending_limit_microcredits": key.spending_limit_microcredits,
        "period": period,
        "period_spend_microcredits": spend,
        "rate_limit": rate_limits_for(org),
        "allowed_models": key.allowed_models or None,
        "cached_at": now.isoformat(),
    }


#: secret hash → key pk, per process. A secret belongs to one key for ever, so this never
#: goes stale; it lets ``_lookup`` read the key's last-used marker in the same round trip.
_KEY_PK_BY_HASH: dict[str, int] = {}
_KEY_PK_MEMO_MAX = 10_000


def _touch_key(key_pk: int) -> str:
    return f"lastused:{key_pk}"


def _lookup_names(secret_hash: str) -> list[str]:
    known_pk = _KEY_PK_BY_HASH.get(secret_hash)
    names = [_cache_key(secret_hash), catalog.VERSION_KEY]
    if known_pk is not None:
        names.append(_touch_key(known_pk))
    return names


def _lookup(secret_hash: str) -> tuple[dict | str, str, bool]:
    """The cached entry (or MISSING), the catalog version and whether the key's last-used
    marker is set (so ``_touch`` has nothing to do), in one cache round trip (none when
    ``prefetch`` already read them)."""
    cache_key = _cache_key(secret_hash)
    known_pk = _KEY_PK_BY_HASH.get(secret_hash)
    found = _get_many(_lookup_names(secret_hash))
    entry = found.get(cache_key)
    version = found.get(catalog.VERSION_KEY) or catalog.current_version()
    now = timezone.now()
    if entry is None or (isinstance(entry, dict) and entry["period"] != _period(now)):
        entry = _build(secret_hash)
        cache.set(cache_key, entry, settings.VERIFY_CACHE_SECONDS)
    recently_used = False
    if isinstance(entry, dict):
        recently_used = known_pk == entry["key_pk"] and _touch_key(known_pk) in found
        if known_pk is None:
            if len(_KEY_PK_BY_HASH) >= _KEY_PK_MEMO_MAX:
                _KEY_PK_BY_HASH.clear()
            _KEY_PK_BY_HASH[secret_hash] = entry["key_pk"]
    return entry, version, recently_used


# --- one cache round trip per verification ----------------------------------------------
#
# ``POST /internal/v1/keys/verify`` needs the service token's entry (authentication) and
# the key's entry (the view). ``prefetch`` reads both in one ``get_many`` when the request
# starts; ``service_token_check`` and ``_lookup`` then take their values from it, each at
# most once, and fall back to the cache for anything it does not hold.

_prefetched: ContextVar[dict | None] = ContextVar("verification_prefetched", default=None)
PREFETCH_MAX_BODY = 4096


def _taken(names: list[str]) -> dict | None:
    """The prefetched values of ``names`` (consumed), or None if not all were read."""
    memo = _prefetched.get()
    if memo is None or not set(names) <= memo["unread"]:
        return None
    memo["unread"].difference_update(names)
    return {name: memo["found"][name] for name in names if name in memo["found"]}


def _get_many(names: list[str]) -> dict:
    found = _taken(names)
    return cache.get_many(names) if found is None else found


def prefetch(request) -> Token:
    """Read this verify request's cache entries in one round trip (see above). ``request``
    is Django's; a body it cannot read as a small JSON object is left to the view."""
    names: list[str] = []
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and keyformat.is_service_token(token):
        names.append(TOKEN_CACHE.format(keyformat.hash_secret(token)))
    key = None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if 0 < length <= PREFETCH_MAX_BODY and request.content_type == "application/json":
        try:
            body = json.loads(request.body)
        except (ValueError, OSError):  # malformed JSON, unreadable: the parser will say so
            body = None
        if isinstance(body, dict):
            key = body.get("key")
    if isinstance(key, str) and keyformat.is_well_formed(key):
        names += _lookup_names(keyformat.hash_secret(key))
    if len(names) < 2:  # nothing to share: each lookup reads its own entry
        return _prefetched.set(None)
    return _prefetched.set({"unread": set(names), "found": cache.get_many(names)})


def prefetch_reset(token: Token) -> None:
    _prefetched.reset(token)


def verify(
    *, key: str, model: str | None = None, endpoint: str | None = None, n: int = 1, tier: str = ""
) -> dict:
    """The inference plane's question: may this key make this call? Raises
    ApplicationError with the seed's error types; returns the answer body."""
    if not keyformat.is_well_formed(key):
        raise _error("invalid_api_key", "Invalid API key.", 401)
    entry, version, recently_used = _lookup(keyformat.hash_secret(key))
    if entry == MISSING:
        raise _error("invalid_api_key", "Invalid API key.", 401)
    now = time.time()
    if entry["status"] == ApiKey.Status.REVOKED:
        raise _error("key_revoked", "This API key was revoked.", 401)
    if entry["valid_until"] is not None and entry["valid_until"] <= now:
        raise _error("key_revoked", "This API key was rotated; use the new key.", 401)
    if entry["expires_at"] is not None and entry["expires_at"] <= now:
        raise _error("key_expired", "This API key has expired.", 401)
    if entry["status"] == ApiKey.Status.DISABLED:
        raise _error("key_disabled", "This API key is disabled. Re-enable it in the console.", 401)
    limit = entry["spending_limit_microcredits"]
    if limit is not None and entry["period_spend_microcredits"] >= limit:
        raise _error(
            "spending_limit_exceeded",
            "This key reached its monthly spending limit.",
            402,
            spending_limit_microcredits=limit,
            period_spend_microcredits=entry["period_spend_microcredits"],
        )
    canonical = None
    data = None
    if model:
        data = catalog.snapshot(version)
        row = catalog.resolve(model, data)
        if row is None:
            raise _error(
                "unknown_model",
                f"Unknown model {model!r}.",
                400,
                available_models=catalog.available_models(data),
            )
        canonical = row["model_id"]
        if endpoint and endpoint not in row["endpoints"]:
            raise _error(
                "wrong_endpoint",
                f"{canonical} is not served on {endpoint}; use "
                + " or ".join(row["endpoints"])
                + ".",
                400,
                endpoints=row["endpoints"],
            )
        allowed = entry["allowed_models"]
        if allowed and canonical not in allowed:
            raise _error(
                "model_not_allowed",
                f"This key may not call {canonical}.",
                403,
                allowed_models=allowed,
            )
        needed = min_balance_microcredits(
            catalog.as_model(row), endpoint or row["endpoints"][0], n=n, tier=tier
        )
    elif endpoint in TOKEN_ENDPOINTS:
        from billing.pricing import TOKEN_ENDPOINT_MIN_BALANCE

        needed = TOKEN_ENDPOINT_MIN_BALANCE
    else:
        needed = 0
    available = entry["wallet"]["available_microcredits"]
    if needed and available < needed:
        raise _error(
            "insufficient_credits",
            f"Not enough credits: this call needs {needed} µcr available, "
            f"the balance has {available} µcr.",
            402,
            needed_microcredits=needed,
            available_microcredits=available,
        )
    if not recently_used:
        _touch(entry["key_pk"])
    answer = {
        "key": entry["key"],
        "owner": entry["owner"],
        "user_id": entry["user_id"],
        "wallet": entry["wallet"],
        "spending_limit_microcredits": limit,
        "period": entry["period"],
        "period_spend_microcredits": entry["period_spend_microcredits"],
        "rate_limit": entry["rate_limit"],
        "allowed_models": entry["allowed_models"],
        "model": canonical,
        "cache_ttl_seconds": settings.VERIFY_GATEWAY_CACHE_SECONDS,
    }
    if data is not None and canonical:
        answer["fallbacks"] = data["models"][canonical]["fallbacks"]
    return answer


def _touch(key_pk: int) -> None:
    """``last_used_at`` at most once a minute per key: the cache decides who writes.
    (``verify`` skips the call when ``_lookup`` already saw the marker set.)"""
    if cache.add(_touch_key(key_pk), 1, 60):
        ApiKey.objects.filter(pk=key_pk).update(last_used_at=timezone.now())


def key_for_customer(*, key: str) -> ApiKey:
    """The key behind a customer's ``ck_`` credential (``/v1/…``), or an auth error."""
    if not keyformat.is_well_formed(key):
        raise _error("invalid_api_key", "Invalid API key.", 401)
    digest = keyformat.hash_secret(key)
    row = (
        ApiKey.objects.select_related("organization")
        .filter(Q(secret_hash=digest) | Q(previous_secret_hash=digest))
        .first()
    )
    if row is None:
        raise _error("invalid_api_key", "Invalid API key.", 401)
    if row.status == ApiKey.Status.REVOKED or row.organization.is_deleted:
        raise _error("key_revoked", "This API key was revoked.", 401)
    if row.previous_secret_hash == digest and (
        row.previous_valid_until is None or row.previous_valid_until <= timezone.now()
    ):
        raise _error("key_revoked", "This API key was rotated; use the new key.", 401)
    if row.expires_at and row.expires_at <= timezone.now():
        raise _error("key_expired", "This API key has expired.", 401)
    if row.status == ApiKey.Status.DISABLED:
        raise _error("key_disabled", "This API key is disabled.", 401)
    return row


# --- invalidation -----------------------------------------------------------------------


def _delete_after_commit(cache_keys: list[str]) -> None:
    if not cache_keys:
        return

    def run() -> None:
        cache.delete_many(cache_keys)
        from .tasks import verification_cache_delete

        # A reader that loaded the old row just before commit may write it back after the
        # first delete; the second delete a second later bounds that window.
        verification_cache_delete.apply_async(args=[cache_keys], countdown=1)

    transaction.on_commit(run)


def invalidate_hashes(hashes: list[str]) -> None:
    _delete_after_commit([_cache_key(h) for h in hashes if h])


def invalidate_keys(keys: list[ApiKey]) -> None:
    hashes = []
    for key in keys:
        hashes.append(key.secret_hash)
        if key.previous_secret_hash:
            hashes.append(key.previous_secret_hash)
    invalidate_hashes(hashes)


def invalidate_organization(organization_id: int) -> None:
    keys = ApiKey.objects.filter(organization_id=organization_id).only(
        "secret_hash", "previous_secret_hash"
    )
    invalidate_keys(list(keys))


# --- service tokens ----------------------------------------------------------------------------


def service_token_check(token: str) -> ServiceToken | None:
    if not keyformat.is_service_token(token):
        return None
    digest = keyformat.hash_secret(token)
    cache_key = TOKEN_CACHE.format(digest)
    taken = _taken([cache_key])
    cached = cache.get(cache_key) if taken is None else taken.get(cache_key)
    if cached is None:
        row = ServiceToken.objects.filter(token_hash=digest, revoked_at__isnull=True).first()
        cached = {"pk": row.pk, "name": row.name} if row else MISSING
        cache.set(cache_key, cached, settings.VERIFY_CACHE_SECONDS)
        if row and cache.add(f"svcused:{row.pk}", 1, 60):
            ServiceToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    if cached == MISSING:
        return None
    return ServiceToken(pk=cached["pk"], name=cached["name"], token_hash=digest)


def invalidate_service_token(token: ServiceToken) -> None:
    _delete_after_commit([TOKEN_CACHE.format(token.token_hash)])


def to_datetime(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, tz=UTC) if ts is not None else None
