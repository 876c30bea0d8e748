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

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from time import monotonic

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisSerializer
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from billing import catalog
from billing.models import CatalogModel
from billing.pricing import (
    TOKEN_ENDPOINT_MIN_BALANCE,
    TOKEN_ENDPOINTS,
    Usage,
    min_balance_microcredits,
    price_microcredits,
)
from billing.selectors import wallet_balances
from hypereal_site.api.errors import ApplicationError
from orgs.models import Organization

from . import keyformat, reservations, rules
from .models import ApiKey, KeyMonthSpend, OwnerRateLimit, ServiceToken
from .tasks import reservation_alert, verification_cache_delete

logger = logging.getLogger("hypereal.apikeys")

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

    def stale(self, name: str):
        """What this worker last read for ``name`` once its half second has passed (None
        while it is fresh, or when there is none): a guess at the shared entry, to be
        checked against it (``_verify_fused``)."""
        item = self._items.get(name)
        if item is None or item[0] > monotonic():
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
        reservations.counters_seen.clear()  # a change that matters: read the counters too

    def clear(self) -> None:
        """Forget everything, including which keys were recently touched (tests use it)."""
        self._items.clear()
        _touched.clear()
        reservations.counters_seen.clear()


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


#: The fields of a verification's ``estimate`` and their bounds (the usage event's).
ESTIMATE_LIMITS = {
    "input_tokens": 100_000_000,
    "max_output_tokens": 100_000_000,
    "images": 1_000,
    "seconds": 86_400,
    "clips": 1_000,
    "requests": 1_000_000,
}


def parse_estimate(raw) -> dict | None:
    """A verification's ``estimate`` checked: an object of known fields, each an integer
    within its bounds (else 400 invalid_request). None when absent."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _error("invalid_request", _("estimate must be an object."), 400)
    unknown = sorted(str(name)[:40] for name in raw if name not in ESTIMATE_LIMITS)
    if unknown:
        known = ", ".join(ESTIMATE_LIMITS)
        raise _error(
            "invalid_request",
            _("estimate has unknown fields (%(unknown)s); use %(known)s.")
            % {"unknown": ", ".join(unknown), "known": known},
            400,
        )
    for name, value in raw.items():
        high = ESTIMATE_LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            raise _error(
                "invalid_request",
                _("estimate.%(name)s must be an integer from 0 to %(high)s.")
                % {"name": name, "high": high},
                400,
            )
    return raw


def verify(
    *,
    key: str,
    model: str | None = None,
    endpoint: str | None = None,
    n: int = 1,
    tier: str = "",
    estimate: dict | None = None,
) -> dict:
    """The inference plane's question: may this key make this call? Raises
    ApplicationError with the seed's error types; returns the answer body, with the
    ``reservation_id`` of the call's reserved worst-case cost."""
    if not keyformat.is_well_formed(key):
        raise _error("invalid_api_key", _("Invalid API key."), 401)
    secret_hash = keyformat.hash_secret(key)
    fused = _verify_fused(
        secret_hash, model=model, endpoint=endpoint, n=n, tier=tier, estimate=estimate
    )
    if fused is not None:
        return fused
    entry, version = _entry_for(secret_hash)
    _refuse_key(entry)
    call = _resolve_call(entry, version, model=model, endpoint=endpoint, n=n, tier=tier)
    outcome = _reserve(entry, call, estimate=estimate, n=n, tier=tier)
    _touch(entry["key_pk"])
    return _answer(entry, call, outcome)


def reservation_estimate(
    row: dict | None, *, estimate: dict | None, n: int = 1, tier: str = ""
) -> int:
    """The µcr a call reserves: its estimate priced by the one pricing function, else the
    default for the model's endpoint family (docs/inference-plane.md, "Reservations")."""
    if row is None:
        return settings.RESERVATION_DEFAULT_MICROCREDITS
    if estimate is not None:
        memo_key = (row["model_id"], n, tier, *estimate.items())
    else:
        memo_key = (
            row["model_id"],
            n,
            tier,
            settings.RESERVATION_DEFAULT_INPUT_TOKENS,
            settings.RESERVATION_DEFAULT_OUTPUT_TOKENS,
        )
    return _priced.get(memo_key, row, lambda: _price_estimate(row, estimate, n, tier))


def _price_estimate(row: dict, estimate: dict | None, n: int, tier: str) -> int:
    model = catalog.as_model(row)
    if estimate is not None:
        usage = Usage(
            input_tokens=estimate.get("input_tokens", 0),
            output_tokens=estimate.get("max_output_tokens", 0),
            images=estimate.get("images", 0),
            seconds=estimate.get("seconds", 0),
            clips=estimate.get("clips", 0),
            requests=estimate.get("requests", 0),
            tier=tier,
        )
    elif model.pricing == CatalogModel.Pricing.PER_TOKEN:
        usage = Usage(
            input_tokens=settings.RESERVATION_DEFAULT_INPUT_TOKENS,
            output_tokens=settings.RESERVATION_DEFAULT_OUTPUT_TOKENS,
        )
    elif model.pricing == CatalogModel.Pricing.PER_IMAGE:
        usage = Usage(images=n, tier=tier)
    elif model.pricing == CatalogModel.Pricing.PER_SECOND:
        usage = Usage(seconds=model.max_seconds or 1)
    else:
        usage = Usage(clips=1, requests=1)
    try:
        return price_microcredits(model, usage)
    except ValueError as exc:
        raise _error("invalid_request", str(exc), 400) from None


def _reserve(
    entry: dict, call: "_Call", *, estimate: dict | None, n: int, tier: str
) -> "reservations.Outcome | None":
    """Step 4: reserve the call's worst case against the key's cap and the wallet, in one
    atomic step; None when the store is down and the key has no cap (PostgreSQL's answer,
    as cached, decides then). A capped key without the store is refused: 503."""
    amount = reservation_estimate(call.row, estimate=estimate, n=n, tier=tier)
    cap = entry["spending_limit_microcredits"]
    try:
        outcome = reservations.reserve(
            key_pk=entry["key_pk"],
            org_pk=entry["organization_pk"],
            period=entry["period"],
            cap=cap,
            amount=amount,
            minimum=call.needed_microcredits,
            lease=True,  # the entry was just checked: a leased reservation may serve
        )
    except reservations.Unavailable as exc:
        logger.warning("reservation store unavailable", exc_info=True)
        if cap is not None or isinstance(exc, reservations.Contended):
            raise _error(
                "unavailable",
                _("Spending limits cannot be checked right now; try again shortly."),
                503,
            ) from None
        rules.refuse_low_balance(
            needed=call.needed_microcredits, available=entry["wallet"]["available_microcredits"]
        )
        return None
    _refuse_outcome(entry, call, outcome, amount)
    return outcome


def _refuse_outcome(
    entry: dict, call: "_Call", outcome: "reservations.Outcome", amount: int
) -> None:
    """The reservation step's refusals (402), and the cap alerts it made due."""
    cap = entry["spending_limit_microcredits"]
    if outcome.status == reservations.OVER_CAP:
        raise _error(
            "spending_limit_exceeded",
            _("This key reached its monthly spending limit."),
            402,
            spending_limit_microcredits=cap,
            period_spend_microcredits=outcome.spent,
            reserved_microcredits=outcome.key_reserved,
            needed_microcredits=amount,
        )
    if outcome.status == reservations.NO_CREDITS:
        available = outcome.available - outcome.wallet_reserved
        needed = max(call.needed_microcredits, amount)
        raise _error(
            "insufficient_credits",
            rules.not_enough_credits(needed=needed, available=available),
            402,
            needed_microcredits=needed,
            available_microcredits=available,
        )
    if cap is not None:
        _alert_if_crossed(entry, outcome, amount)


_SERIALIZER = RedisSerializer()  # how the shared cache (Django's RedisCache) stores values


def _verify_fused(
    secret_hash: str, *, model: str | None, endpoint: str | None, n: int, tier: str, estimate
) -> dict | None:
    """Verification in ONE round trip when this worker's copy of the key's entry has just
    expired (a key verified less often than twice a second per worker, or every half
    second for a busy one): resolve and price the call with the expired copy, then one
    script reserves and reads the shared entry and the catalog version. The answer stands
    only if the shared entry and version are exactly the copy's (so the key's status, cap
    and models were checked against the current entry, as in the ordinary path); else the
    reservation is released and None sends the caller down the ordinary path. A revoked
    key's entry is deleted on commit: the read finds no entry, and it is rebuilt and
    refused there — the revocation bound is unchanged."""
    cache_key = _cache_key(secret_hash)
    copy = local_copies.stale(cache_key)
    if copy is None or not reservations.reads_shared_cache():
        return None
    entry, version = copy
    if entry == MISSING or entry["period"] != _period(timezone.now()):
        return None
    try:
        call = _resolve_call(entry, version, model=model, endpoint=endpoint, n=n, tier=tier)
        amount = reservation_estimate(call.row, estimate=estimate, n=n, tier=tier)
        outcome, raw_entry, raw_version = reservations.reserve_and_read(
            key_pk=entry["key_pk"],
            org_pk=entry["organization_pk"],
            period=entry["period"],
            cap=entry["spending_limit_microcredits"],
            amount=amount,
            minimum=call.needed_microcredits,
            cache_names=(cache.make_key(cache_key), cache.make_key(catalog.VERSION_KEY)),
            lease=True,
        )
    except (ApplicationError, reservations.Unavailable):
        return None  # the ordinary path answers (and refuses) from the current entry
    current = None if raw_entry is None else _SERIALIZER.loads(raw_entry)
    current_version = None if raw_version is None else _SERIALIZER.loads(raw_version)
    if current != entry or current_version != version or outcome is None:
        _release(outcome)
        return None
    local_copies.put(cache_key, (entry, version))
    try:
        _refuse_key(entry)
    except ApplicationError:
        _release(outcome)
        raise
    reservations.lease_keep(
        outcome,
        reservations.shape_of(
            key_pk=entry["key_pk"],
            org_pk=entry["organization_pk"],
            period=entry["period"],
            cap=entry["spending_limit_microcredits"],
            amount=amount,
            minimum=call.needed_microcredits,
        ),
    )
    _refuse_outcome(entry, call, outcome, amount)
    _touch(entry["key_pk"])
    return _answer(entry, call, outcome)


def _release(outcome: "reservations.Outcome | None") -> None:
    """Give back a reservation made for a call that is not answered with it (and the rest
    of its lease)."""
    if outcome is None or not outcome.reservation_id:
        return
    try:
        reservations.settle(ids=[outcome.reservation_id, *outcome.lease])
    except reservations.Unavailable:
        logger.warning("reservation store unavailable: reservation left to expire")


def _alert_if_crossed(entry: dict, outcome: "reservations.Outcome", amount: int) -> None:
    """Spend + reserved crossed 80% or 100% of the cap with this reservation (or the lease
    it came with): the alerts (and auto-disable at 100%) are due now, before the calls
    run — off the hot path. A lease reaching 100% is always a single call (a lease takes
    at most half of what still fits), so auto-disable never strands a lease."""
    if outcome.from_lease:
        return  # the script that reserved the lease saw the counters cross (or not)
    cap = entry["spending_limit_microcredits"]
    # The counters as the script moved them: this reservation and the rest of its lease.
    before = outcome.spent + outcome.key_reserved - amount
    after = outcome.spent + outcome.key_reserved + outcome.leased * amount
    if any(before * 100 < cap * level <= after * 100 for level in (80, 100)):
        reservation_alert.delay(entry["key_pk"], entry["period"], after)


def _min_balance(row: dict, endpoint: str, n: int, tier: str) -> int:
    try:
        return min_balance_microcredits(catalog.as_model(row), endpoint, n=n, tier=tier)
    except ValueError as exc:  # an unknown size tier or n outside 1..10
        raise _error("invalid_request", str(exc), 400) from None


class _Priced:
    """This process's memo of what the pricing function answered for a call's shape (model,
    endpoint or estimate, n, tier), valid while the catalog row it was computed from is the
    one the call resolved to: a new catalog version brings new row objects, so a changed
    price is never served from here. A refusal (400) is not remembered."""

    MAX_ITEMS = 4_096

    def __init__(self) -> None:
        self.items: dict[tuple, tuple[dict, int]] = {}

    def get(self, memo_key: tuple, row: dict, compute) -> int:
        hit = self.items.get(memo_key)
        if hit is not None and hit[0] is row:
            return hit[1]
        value = compute()
        if len(self.items) >= self.MAX_ITEMS:
            self.items.clear()
        self.items[memo_key] = (row, value)
        return value


_priced = _Priced()


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~0.5 µs per call
class _Call:
    """What a verification resolved about the call: the canonical model (None when no
    model was named), the catalog it came from, and the credits it needs up front."""

    model: str | None
    data: dict | None
    needed_microcredits: int
    row: dict | None = None


def _entry_for(secret_hash: str) -> tuple[dict, str]:
    """Step 1: the cached entry of a known key (else 401 invalid_api_key)."""
    entry, version = _lookup(secret_hash)
    if entry == MISSING:
        raise _error("invalid_api_key", _("Invalid API key."), 401)
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
        return _Call(model=None, data=None, needed_microcredits=needed, row=None)
    data = catalog.snapshot(version)
    row = catalog.resolve(model, data)
    if row is None:
        raise _error(
            "unknown_model",
            _("Unknown model %(model)s.") % {"model": repr(model)},
            400,
            available_models=catalog.available_models(data),
        )
    canonical = row["model_id"]
    if endpoint and endpoint not in row["endpoints"]:
        raise _error(
            "wrong_endpoint",
            _("%(model)s is not served on %(endpoint)s; use %(endpoints)s.")
            % {
                "model": canonical,
                "endpoint": endpoint,
                "endpoints": _(" or ").join(row["endpoints"]),
            },
            400,
            endpoints=row["endpoints"],
        )
    rules.refuse_model(model=canonical, allowed=entry["allowed_models"])
    needed = _priced.get(
        (canonical, endpoint, n, tier),
        row,
        lambda: _min_balance(row, endpoint or row["endpoints"][0], n, tier),
    )
    return _Call(model=canonical, data=data, needed_microcredits=needed, row=row)


def _answer(entry: dict, call: _Call, outcome: "reservations.Outcome | None") -> dict:
    """Step 5: the answer body (docs/inference-plane.md). With a reservation, the wallet's
    available balance and the month spend are the reservation counters' (balance − held −
    reserved; spend as PostgreSQL booked it)."""
    wallet = entry["wallet"]
    spend = entry["period_spend_microcredits"]
    reserved = 0
    if outcome is not None:
        wallet = dict(wallet)
        wallet["available_microcredits"] = outcome.available - outcome.wallet_reserved
        if entry["spending_limit_microcredits"] is not None:
            spend = outcome.spent
        reserved = outcome.key_reserved
    answer = {
        "key": entry["key"],
        "owner": entry["owner"],
        "user_id": entry["user_id"],
        "wallet": wallet,
        "spending_limit_microcredits": entry["spending_limit_microcredits"],
        "period": entry["period"],
        "period_spend_microcredits": spend,
        "period_reserved_microcredits": reserved,
        "reservation_id": outcome.reservation_id if outcome is not None else None,
        "rate_limit": entry["rate_limit"],
        "allowed_models": entry["allowed_models"],
        "model": call.model,
        # An answer carrying a reservation is for one call: never reused.
        "cache_ttl_seconds": 0
        if outcome is not None and outcome.reservation_id
        else settings.VERIFY_GATEWAY_CACHE_SECONDS,
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
        ApiKey.objects.filter(pk=key_pk).update(last_verified_at=now)


def _timestamp(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def key_for_customer(*, key: str) -> ApiKey:
    """The key behind a customer's ``ck_`` credential (``/v1/…``), or an auth error. The
    key's own state is refused by the same rules as verification; its cap and balance are
    what ``/v1/key`` reports, so they do not refuse it here."""
    if not keyformat.is_well_formed(key):
        raise _error("invalid_api_key", _("Invalid API key."), 401)
    digest = keyformat.hash_secret(key)
    row = (
        ApiKey.objects.select_related("organization")
        .filter(Q(secret_hash=digest) | Q(previous_secret_hash=digest))
        .first()
    )
    if row is None:
        raise _error("invalid_api_key", _("Invalid API key."), 401)
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
        raise ApplicationError(
            "unknown_key", _("No API key %(id)s.") % {"id": repr(public_id)}, status=404
        )
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
