"""Key verification, the hot path of every gateway request.

A verification answer is built from the database once and kept in the shared cache under
the SHA-256 of the presented secret; every worker reads the same entry. Changes that
matter delete the entries after commit (and once more a second later, closing the window
in which a reader that loaded the old row could write it back), so a revoked key is
refused by every worker within a second. In front of the shared cache each worker keeps
what it read for half a second (``_LocalCopies``), which takes the shared cache off the
hot path for busy keys without stretching that second. Balances and month spend in the
answer are as of ``cached_at``; the entry is also rebuilt when the month changes, and
whenever a balance crosses a limit the ledger says so (``billing.signals.balance_changed``,
subscribed in ``ApikeysConfig.ready``) and the owner's entries are deleted.
"""

import time
from dataclasses import dataclass
from datetime import datetime
from time import monotonic

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing import catalog
from billing.pricing import TOKEN_ENDPOINT_MIN_BALANCE, TOKEN_ENDPOINTS, min_balance_microcredits
from billing.selectors import wallet_balances
from hypereal_site.api.errors import ApplicationError
from orgs.models import Organization

from . import keyformat, rules
from .models import ApiKey, KeyMonthSpend, OwnerRateLimit, ServiceToken
from .tasks import verification_cache_delete

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
        "wallet": wallet_balances(organization_id=org.pk),
        "spending_limit_microcredits": key.spending_limit_microcredits,
        "period": period,
        "period_spend_microcredits": spend,
        "rate_limit": rate_limits_for(org),
        "allowed_models": key.allowed_models or None,
        "cached_at": now.isoformat(),
    }


class _LocalCopies:
    """A per-process copy of what this worker last read from the shared cache, kept for
    at most ``settings.VERIFY_LOCAL_CACHE_SECONDS`` (default 0.5 s).

    At thousands of verifications a second the same few keys come back many times a
    second; serving them from process memory for half a second takes the shared cache off
    the hot path, and still leaves a revocation refused by every worker within a second:
    the shared entry is deleted on commit, and no local copy outlives its half second.
    Changes made by this process drop its own copies at once.
    """

    MAX_ITEMS = 10_000

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, object]] = {}

    def get(self, name: str):
        item = self._items.get(name)
        if item is None or item[0] <= monotonic():
            return None
        return item[1]

    def put(self, name: str, value) -> None:
        seconds = settings.VERIFY_LOCAL_CACHE_SECONDS
        if seconds <= 0:
            return
        if len(self._items) >= self.MAX_ITEMS:
            self._items.clear()
        self._items[name] = (monotonic() + seconds, value)

    def drop(self, names) -> None:
        for name in names:
            self._items.pop(name, None)

    def clear(self) -> None:
        """Forget everything, including which keys were recently touched (tests use it)."""
        self._items.clear()
        _touched.clear()


local_copies = _LocalCopies()
#: key pk → until when (monotonic) this process knows ``last_used_at`` is fresh.
_touched: dict[int, float] = {}


def _lookup(secret_hash: str) -> tuple[dict | str, str]:
    """The entry (or MISSING) and the catalog version: from this process's copy, else
    from the shared cache in one round trip, else built from the database."""
    cache_key = _cache_key(secret_hash)
    copy = local_copies.get(cache_key)
    if copy is not None:
        return copy
    found = cache.get_many([cache_key, catalog.VERSION_KEY])
    entry = found.get(cache_key)
    version = found.get(catalog.VERSION_KEY) or catalog.current_version()
    if entry is None or (isinstance(entry, dict) and entry["period"] != _period(timezone.now())):
        entry = _build(secret_hash)
        cache.set(cache_key, entry, settings.VERIFY_CACHE_SECONDS)
    local_copies.put(cache_key, (entry, version))
    return entry, version


def verify(
    *, key: str, model: str | None = None, endpoint: str | None = None, n: int = 1, tier: str = ""
) -> dict:
    """The inference plane's question: may this key make this call? Raises
    ApplicationError with the seed's error types; returns the answer body."""
    entry, version = _entry_for(key)
    _refuse_key(entry)
    call = _resolve_call(entry, version, model=model, endpoint=endpoint, n=n, tier=tier)
    rules.refuse_low_balance(
        needed=call.needed_microcredits, available=entry["wallet"]["available_microcredits"]
    )
    _touch(entry["key_pk"])
    return _answer(entry, call)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~0.5 µs per call
class _Call:
    """What a verification resolved about the call: the canonical model (None when no
    model was named), the catalog it came from, and the credits it needs up front."""

    model: str | None
    data: dict | None
    needed_microcredits: int


def _entry_for(key: str) -> tuple[dict, str]:
    """Step 1: the cached entry of a well-formed, known key (else 401 invalid_api_key)."""
    if not keyformat.is_well_formed(key):
        raise _error("invalid_api_key", "Invalid API key.", 401)
    entry, version = _lookup(keyformat.hash_secret(key))
    if entry == MISSING:
        raise _error("invalid_api_key", "Invalid API key.", 401)
    return entry, version


def _refuse_key(entry: dict) -> None:
    """Step 2: the key itself — revoked, rotated out, expired, disabled, over its cap."""
    rules.refuse_unusable(
        status=entry["status"],
        expires_at=entry["expires_at"],
        previous_valid_until=entry["valid_until"],
        is_previous_secret=entry["is_previous_secret"],
        now=time.time(),
    )
    rules.refuse_over_cap(
        limit=entry["spending_limit_microcredits"], spend=entry["period_spend_microcredits"]
    )


def _resolve_call(
    entry: dict, version: str, *, model: str | None, endpoint: str | None, n: int, tier: str
) -> _Call:
    """Step 3: the model (known, served on the endpoint, allowed for the key) and the
    balance the call needs before it starts."""
    if not model:
        needed = TOKEN_ENDPOINT_MIN_BALANCE if endpoint in TOKEN_ENDPOINTS else 0
        return _Call(model=None, data=None, needed_microcredits=needed)
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
            f"{canonical} is not served on {endpoint}; use " + " or ".join(row["endpoints"]) + ".",
            400,
            endpoints=row["endpoints"],
        )
    rules.refuse_model(model=canonical, allowed=entry["allowed_models"])
    try:
        needed = min_balance_microcredits(
            catalog.as_model(row), endpoint or row["endpoints"][0], n=n, tier=tier
        )
    except ValueError as exc:  # an unknown size tier or n outside 1..10
        raise _error("invalid_request", str(exc), 400) from None
    return _Call(model=canonical, data=data, needed_microcredits=needed)


def _answer(entry: dict, call: _Call) -> dict:
    """Step 4: the answer body (docs/inference-plane.md)."""
    answer = {
        "key": entry["key"],
        "owner": entry["owner"],
        "user_id": entry["user_id"],
        "wallet": entry["wallet"],
        "spending_limit_microcredits": entry["spending_limit_microcredits"],
        "period": entry["period"],
        "period_spend_microcredits": entry["period_spend_microcredits"],
        "rate_limit": entry["rate_limit"],
        "allowed_models": entry["allowed_models"],
        "model": call.model,
        "cache_ttl_seconds": settings.VERIFY_GATEWAY_CACHE_SECONDS,
    }
    if call.model is not None:
        answer["fallbacks"] = call.data["models"][call.model]["fallbacks"]
    return answer


def _touch(key_pk: int) -> None:
    """``last_used_at`` at most once a minute per key: the shared cache decides which
    worker writes; each worker asks at most once a minute."""
    now = monotonic()
    if _touched.get(key_pk, 0) > now:
        return
    if len(_touched) >= _LocalCopies.MAX_ITEMS:
        _touched.clear()
    _touched[key_pk] = now + 60
    if cache.add(f"lastused:{key_pk}", 1, 60):
        now = timezone.now()
        # Never backwards: ingestion may have written a later event's time meanwhile.
        ApiKey.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now), pk=key_pk
        ).update(last_used_at=now)


def _timestamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def key_for_customer(*, key: str) -> ApiKey:
    """The key behind a customer's ``ck_`` credential (``/v1/…``), or an auth error. The
    key's own state is refused by the same rules as verification; its cap and balance are
    what ``/v1/key`` reports, so they do not refuse it here."""
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
    rules.refuse_unusable(
        status=rules.REVOKED if row.organization.is_deleted else row.status,
        expires_at=_timestamp(row.expires_at),
        previous_valid_until=_timestamp(row.previous_valid_until),
        is_previous_secret=row.secret_hash != digest,
        now=time.time(),
    )
    return row


def key_for_hold(*, public_id: str) -> ApiKey:
    """The key a hold is placed for (``/internal/v1/holds``): known (else 404), usable and
    under its monthly cap, by the same rules as verification."""
    key = ApiKey.objects.select_related("organization").filter(public_id=public_id).first()
    if key is None:
        raise ApplicationError("unknown_key", f"No API key {public_id!r}.", status=404)
    rules.refuse_unusable(
        status=rules.REVOKED if key.organization.is_deleted else key.status,
        expires_at=_timestamp(key.expires_at),
        previous_valid_until=None,
        is_previous_secret=False,
        now=time.time(),
    )
    spend = (
        KeyMonthSpend.objects.filter(key=key, period=_period(timezone.now()))
        .values_list("spend_microcredits", flat=True)
        .first()
    )
    rules.refuse_over_cap(limit=key.spending_limit_microcredits, spend=spend or 0)
    return key


# --- invalidation -----------------------------------------------------------------------


def _delete_after_commit(cache_keys: list[str]) -> None:
    if not cache_keys:
        return

    def run() -> None:
        local_copies.drop(cache_keys)
        cache.delete_many(cache_keys)
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


@dataclass(frozen=True)
class ServiceTokenInfo:
    """What authentication needs of a service token (no model instance on the hot path)."""

    pk: int
    name: str
    token_hash: str


def service_token_check(token: str) -> ServiceTokenInfo | None:
    if not keyformat.is_service_token(token):
        return None
    digest = keyformat.hash_secret(token)
    cache_key = TOKEN_CACHE.format(digest)
    cached = local_copies.get(cache_key)
    if cached is None:
        cached = cache.get(cache_key)
    if cached is None:
        row = ServiceToken.objects.filter(token_hash=digest, revoked_at__isnull=True).first()
        cached = {"pk": row.pk, "name": row.name} if row else MISSING
        cache.set(cache_key, cached, settings.VERIFY_CACHE_SECONDS)
        if row and cache.add(f"svcused:{row.pk}", 1, 60):
            ServiceToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    local_copies.put(cache_key, cached)
    if cached == MISSING:
        return None
    return ServiceTokenInfo(pk=cached["pk"], name=cached["name"], token_hash=digest)


def invalidate_service_token(token: ServiceToken | ServiceTokenInfo) -> None:
    _delete_after_commit([TOKEN_CACHE.format(token.token_hash)])
