"""Credit reservations: the hard cap under a burst (docs/inference-plane.md, "Reservations").

Verification reserves a call's worst-case cost against the key's month cap and the
owner's available balance in ONE atomic step (a Redis Lua script: no database round trip,
every web worker and gateway node sees the same counters); usage ingestion settles the
reservation after its transaction commits; unreported reservations expire.

Counters (µcr), under ``<cache prefix>:rsv:``:

* ``ks:<key pk>:<YYYY-MM>`` the key's month spend as PostgreSQL knows it, ``kr:…`` what is
  reserved against it; ``wa:<org pk>`` the wallet's ``balance − held``, ``wr:<org pk>`` what
  is reserved against it;
* ``r:<id>`` one reservation (key, org, period, amount), ``exp`` a sorted set of ids by
  expiry (ms);
* ``kg:<key pk>`` / ``wg:<org pk>`` generations, bumped when a credit or a fix dropped a
  counter; ``ksa:<key pk>:<YYYY-MM>`` / ``waa:<org pk>`` the moves that found no counter;
  ``epoch`` a random token, created when missing (after a loss of data); ``seen:<key
  pk>`` / ``wseen:<org pk>`` set once the key's / the wallet's counters were built
  (absent after a loss of data).

PostgreSQL stays the truth. After commit, a spend or a debit moves its counter by the same
amount, or its accumulator (``ksa:`` / ``waa:``) when the counter is missing; a credit
deletes it, bumping its generation. A missing counter is rebuilt from PostgreSQL plus what
the accumulator gained since it was read before PostgreSQL, unless the generation moved
meanwhile (then it reads again): a rebuild never misses a move (at worst counts one twice,
towards refusing) and a burst of debits does not make it start again.

After Redis lost its data the in-flight reservations are unknown: a capped key whose
counters are rebuilt for the first time (no ``seen:`` marker) and that verified within the
TTL starts with a *recovery* reservation of its whole remaining cap, expiring a TTL after
its last use; a wallet rebuilt for the first time (no ``wseen:`` marker) whose owner had a
key verified within the TTL starts with one of its whole available balance (a record with
no key). The cost: such keys and wallets are refused for up to ``RESERVATION_TTL_SECONDS``
(+60 s) after a Redis flush; caps and balances still hold.

The expiry set ``exp`` is the registry of live reservations: settlement, expiry and the
recount only count a record whose id is in it. A record outside it (a partial loss took
its counters and its expiry entry) is an orphan: it counts nowhere, and releasing it
would take a rebuilt counter below the truth. A settlement the store refuses after commit
is journalled in PostgreSQL (``PendingSettlement``) and applied by the beat tasks.

Per-worker leases (``Leases``): one script may reserve up to ``RESERVATION_LEASE_CALLS``
calls of one shape at once — ordinary records, all counted, never more than half of what
still fits — and the worker hands them out without a round trip for
``RESERVATION_LEASE_SECONDS``, then releases the rest (a daemon thread; at exit too).

Without ``REDIS_URL`` (``make run``, the SQLite tests) an in-process store with the same
interface (a lock and dicts) does the same within one process.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
import time
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Max, Q

#: What a verification's reservation step answers.
OK = "ok"
OVER_CAP = "cap"
NO_CREDITS = "credits"
MISSING_KEY = "missing_key"
MISSING_WALLET = "missing_wallet"

logger = logging.getLogger("hypereal.apikeys")

REBUILD_ATTEMPTS = 10  # PostgreSQL may move a counter while it is rebuilt: read again
LAZY_EXPIRE = 5  # expired reservations a verification releases in passing
SPEND_COUNTER_SECONDS = 40 * 24 * 3600


class Unavailable(Exception):
    """The reservation store does not answer."""


class Contended(Unavailable):
    """The store answers, but the counters could not be rebuilt (PostgreSQL kept moving
    under the rebuild): no fallback may answer without a reservation (503 for every key)."""


@dataclass(slots=True)
class Outcome:
    status: str
    reservation_id: str | None = None
    spent: int = 0
    key_reserved: int = 0  # after this reservation
    available: int = 0  # wallet balance − held (PostgreSQL's number)
    wallet_reserved: int = 0  # after this reservation
    lease: list[str] = field(default_factory=list)  # more of its lease, not handed out yet
    leased: int = 0  # how many more the script reserved with this one (a lease)
    from_lease: bool = False  # handed out from this worker's lease (no script ran)


def _prefix() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:rsv:"


def names(prefix: str, key_pk: int, org_pk: int, period: str) -> dict[str, str]:
    return {
        "ks": f"{prefix}ks:{key_pk}:{period}",
        "kr": f"{prefix}kr:{key_pk}:{period}",
        "wa": f"{prefix}wa:{org_pk}",
        "wr": f"{prefix}wr:{org_pk}",
        "kg": f"{prefix}kg:{key_pk}",
        "wg": f"{prefix}wg:{org_pk}",
        "seen": f"{prefix}seen:{key_pk}",
        "wseen": f"{prefix}wseen:{org_pk}",
        "ksa": f"{prefix}ksa:{key_pk}:{period}",
        "waa": f"{prefix}waa:{org_pk}",
        "epoch": f"{prefix}epoch",
    }


# --- Lua ---------------------------------------------------------------------------------

_EXPIRE_LUA = """
local function release(prefix, id)
  local r = redis.call('HMGET', prefix .. 'r:' .. id, 'k', 'o', 'p', 'a')
  redis.call('DEL', prefix .. 'r:' .. id)
  local live = redis.call('ZREM', prefix .. 'exp', id) == 1
  if not (r[4] and live) then return 0 end
  if r[1] then redis.call('DECRBY', prefix .. 'kr:' .. r[1] .. ':' .. r[3], r[4]) end
  redis.call('DECRBY', prefix .. 'wr:' .. r[2], r[4])
  return tonumber(r[4])
end
local function expire(prefix, now, limit)
  local ids = redis.call('ZRANGEBYSCORE', prefix .. 'exp', '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do release(prefix, id) end
  return #ids
end
"""

# KEYS: ks kr wa wr; ARGV: prefix capped cap amount min_available now_ms expiry_ms
#       key_pk org_pk period count id1..id<count>
# ``count`` > 1 asks for a *lease*: up to that many reservations of ``amount`` at once
# (one record each, all counted), never more than half of the calls that still fit (but
# one when one fits), so a lease shrinks near the cap and the wallet's end. Each of them
# is checked as if reserved one by one: spend + reserved ≤ cap after the last; the
# balance stays ≥ 0 after the last and ≥ the minimum before it. Returns the status, the
# counters (after the whole lease) and how many were granted.
_RESERVE_FN = """
local function reserve()
  local prefix = ARGV[1]
  expire(prefix, ARGV[6], 5)
  local capped = ARGV[2] == '1'
  local cap, amount, minimum = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local count = tonumber(ARGV[11])
  local spent = redis.call('GET', KEYS[1])
  if capped and not spent then return {'missing_key', 0, 0, 0, 0, 0} end
  local available = redis.call('GET', KEYS[3])
  if not available then return {'missing_wallet', 0, 0, 0, 0, 0} end
  spent = tonumber(spent or '0')
  available = tonumber(available)
  local kres = tonumber(redis.call('GET', KEYS[2]) or '0')
  local wres = tonumber(redis.call('GET', KEYS[4]) or '0')
  if capped and (spent + kres >= cap or spent + kres + amount > cap) then
    return {'cap', spent, kres, available, wres, 0}
  end
  if available - wres < minimum or available - wres - amount < 0 then
    return {'credits', spent, kres, available, wres, 0}
  end
  if amount <= 0 then return {'ok', spent, kres, available, wres, 0} end
  local granted = 1
  if count > 1 then
    local fit = math.floor((available - wres) / amount)
    fit = math.min(fit, math.floor((available - wres - minimum) / amount) + 1)
    if capped then fit = math.min(fit, math.floor((cap - spent - kres) / amount)) end
    granted = math.min(count, math.max(1, math.floor(fit / 2)))
  end
  local total = string.format('%.0f', amount * granted)
  kres = redis.call('INCRBY', KEYS[2], total)
  wres = redis.call('INCRBY', KEYS[4], total)
  local scored = {}
  for i = 1, granted do
    local id = ARGV[11 + i]
    redis.call('HSET', prefix .. 'r:' .. id, 'k', ARGV[8], 'o', ARGV[9], 'p', ARGV[10],
               'a', ARGV[4])
    scored[#scored + 1] = ARGV[7]
    scored[#scored + 1] = id
  end
  redis.call('ZADD', prefix .. 'exp', unpack(scored))
  return {'ok', spent, kres, available, wres, granted}
end
"""

RESERVE_LUA = _EXPIRE_LUA + _RESERVE_FN + "return reserve()"

# The same, fused with the read of the cached verification entry and the catalog version
# (KEYS[5], KEYS[6]: the shared cache's names), returned after the outcome: one round trip
# where a worker's copy of the entry has expired (``reserve_and_read``).
RESERVE_READ_LUA = (
    _EXPIRE_LUA
    + _RESERVE_FN
    + """
local out = reserve()
out[7] = redis.call('GET', KEYS[5])
out[8] = redis.call('GET', KEYS[6])
return out
"""
)

# ARGV: prefix, n, id1..idn, then per counter its amount ; KEYS: counters to move, each
# followed by its generation, its "seen" marker (or "") and its accumulator. A counter
# moves by its amount when it exists; when it does not, the amount is added to its
# accumulator instead (a rebuild adds what accumulated while it read PostgreSQL: it never
# misses a move, and never has to start again because of one). Amount 0 (a credit, a
# fix): the counter is deleted, its marker set when it existed (the counters were live,
# not lost), and its generation bumped (a rebuild that read PostgreSQL before it starts
# again). Returns the released amounts (0 for an unknown, already settled or orphaned id).
SETTLE_LUA = (
    _EXPIRE_LUA
    + """
local prefix, n = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 1, n do out[i] = release(prefix, ARGV[2 + i]) end
for i = 1, #KEYS, 4 do
  local raw = ARGV[2 + n + (i + 3) / 4]  -- INCRBY gets the string: exact at any size
  local amount = tonumber(raw)
  if amount == 0 then
    if redis.call('DEL', KEYS[i]) == 1 and KEYS[i + 2] ~= '' then
      redis.call('SET', KEYS[i + 2], '1')
    end
    redis.call('INCR', KEYS[i + 1])
  elseif redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('INCRBY', KEYS[i], raw)
  else
    redis.call('INCRBY', KEYS[i + 3], raw)
    redis.call('EXPIRE', KEYS[i + 3], ARGV[3 + n + #KEYS / 4])
  end
end
return out
"""
)

EXPIRE_LUA = _EXPIRE_LUA + "return expire(ARGV[1], ARGV[2], tonumber(ARGV[3]))"

# KEYS: reserved counters seen by a scan; ARGV: prefix, fix (1/0). Sums the live records
# (all in the expiry set) per counter and compares, atomically: a reservation cannot slip
# between the count and the fix. Returns {name, value, truth, ...} for each drift.
RECOUNT_LUA = """
local prefix, fix = ARGV[1], ARGV[2] == '1'
local truth, seen = {}, {}
for _, name in ipairs(KEYS) do truth[name] = 0; seen[#seen + 1] = name end
for _, id in ipairs(redis.call('ZRANGE', prefix .. 'exp', 0, -1)) do
  local r = redis.call('HMGET', prefix .. 'r:' .. id, 'k', 'o', 'p', 'a')
  if r[4] then
    local names = {prefix .. 'wr:' .. r[2]}
    if r[1] then names[2] = prefix .. 'kr:' .. r[1] .. ':' .. r[3] end
    for _, name in ipairs(names) do
      if truth[name] == nil then truth[name] = 0; seen[#seen + 1] = name end
      truth[name] = truth[name] + tonumber(r[4])
    end
  end
end
local out = {}
for _, name in ipairs(seen) do
  local value = tonumber(redis.call('GET', name) or '0')
  if value ~= truth[name] then
    out[#out + 1] = name; out[#out + 1] = value; out[#out + 1] = truth[name]
    if fix then redis.call('SET', name, string.format('%.0f', truth[name])) end
  end
end
return out
"""

# Rebuild missing counters from PostgreSQL's numbers, and place the recovery holds, in ONE
# atomic step: no reservation can see a counter rebuilt after a loss of data before its
# hold is in place (built in two steps, the calls arriving between them reserved against
# the bare counter: a burst overspent its wallet that way).
# KEYS: ks kg wa wg seen wseen kr wr ksa waa epoch
# ARGV: prefix capped key_gen spend spend_ttl wallet_gen available key_pk org_pk period
#       key_hold_id key_hold key_hold_expiry wallet_hold_id wallet_hold wallet_hold_expiry
#       key_acc wallet_acc epoch
# A counter is SET to PostgreSQL's number plus what its accumulator gained since it was
# read before PostgreSQL (a move committed before that read and settled after it is then
# counted twice: towards refusing, fixed by the reconcile task; a move is never missed),
# unless its generation moved (a credit or a fix: the caller reads again). A missing
# marker with the counter present means the counters were live: the marker is set,
# nothing held. A missing marker with the counter created here means Redis lost its data:
# the marker is set and the hold placed.
# KEYS: epoch kg wg ksa waa ; ARGV: a new epoch token. What a rebuild reads before
# PostgreSQL: the store's epoch (created if missing: Redis lost its data, or never had
# any), the generations and the accumulators.
REBUILD_READ_LUA = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]),
        redis.call('GET', KEYS[4]), redis.call('GET', KEYS[5])}
"""

REBUILD_LUA = """
local prefix = ARGV[1]
-- Redis lost its data since the reads (its generations and accumulators with it, so
-- they cannot tell): nothing is built, the caller reads again.
if redis.call('GET', KEYS[11]) ~= ARGV[19] then return 0 end
local function build(counter, gen_key, gen, acc_key, acc, value, ttl)
  if redis.call('EXISTS', counter) == 1 then return 'live' end
  local now = redis.call('GET', acc_key)
  if (redis.call('GET', gen_key) or '0') ~= gen or (not now and acc ~= '0') then
    return 'moved'  -- a credit or a fix, or the accumulator read before is gone
  end
  -- an integer string: Lua would write a large number as 1e+15, which INCRBY refuses
  value = string.format('%.0f', tonumber(value) + tonumber(now or '0') - tonumber(acc))
  if ttl then
    redis.call('SET', counter, value, 'EX', ttl)
  else
    redis.call('SET', counter, value)
  end
  redis.call('DEL', acc_key)
  return 'built'
end
local function hold(marker, state, counters, id, fields, amount, expiry)
  if state == 'moved' or redis.call('SET', marker, '1', 'NX') == false then return end
  if state ~= 'built' or tonumber(amount) <= 0 then return end
  for _, counter in ipairs(counters) do redis.call('INCRBY', counter, amount) end
  redis.call('HSET', prefix .. 'r:' .. id, unpack(fields))
  redis.call('ZADD', prefix .. 'exp', expiry, id)
end
if ARGV[2] == '1' then
  local state = build(KEYS[1], KEYS[2], ARGV[3], KEYS[9], ARGV[17], ARGV[4], ARGV[5])
  hold(KEYS[5], state, {KEYS[7], KEYS[8]}, ARGV[11],
       {'k', ARGV[8], 'o', ARGV[9], 'p', ARGV[10], 'a', ARGV[12]}, ARGV[12], ARGV[13])
end
local state = build(KEYS[3], KEYS[4], ARGV[6], KEYS[10], ARGV[18], ARGV[7], nil)
hold(KEYS[6], state, {KEYS[8]}, ARGV[14], {'o', ARGV[9], 'a', ARGV[15]}, ARGV[15], ARGV[16])
return 1
"""

# KEYS: reservation records seen by a scan ; ARGV: prefix, fix. A record whose id is not in
# the expiry set is an orphan (a partial loss of data took its counters and its expiry
# entry): it counts nowhere and is released by nothing; with ``fix`` it is deleted.
ORPHANS_LUA = """
local out = {}
for _, name in ipairs(KEYS) do
  local id = string.sub(name, #ARGV[1] + 3)
  if not redis.call('ZSCORE', ARGV[1] .. 'exp', id) then
    out[#out + 1] = name
    if ARGV[2] == '1' then redis.call('DEL', name) end
  end
end
return out
"""

# ARGV: pattern. Redis losing its data, for the tests: every name of the prefix deleted in
# one atomic step, as a restart without persistence does (a SCAN then a DEL would let a
# reservation land between the two: its record kept, its counters and expiry entry gone).
RESET_LUA = """
local names = redis.call('KEYS', ARGV[1])
for i = 1, #names, 1000 do
  redis.call('DEL', unpack(names, i, math.min(i + 999, #names)))
end
return #names
"""


class RedisStore:
    def __init__(self, url: str) -> None:
        import redis  # noqa: PLC0415 - only with REDIS_URL

        self.url = url
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self._errors = (redis.RedisError, OSError)
        self._reserve = self.redis.register_script(RESERVE_LUA)
        self._reserve_read = self.redis.register_script(RESERVE_READ_LUA)
        self._settle = self.redis.register_script(SETTLE_LUA)
        self._expire = self.redis.register_script(EXPIRE_LUA)
        self._rebuild = self.redis.register_script(REBUILD_LUA)
        self._rebuild_read = self.redis.register_script(REBUILD_READ_LUA)
        self._recount = self.redis.register_script(RECOUNT_LUA)
        self._orphans = self.redis.register_script(ORPHANS_LUA)
        self._reset = self.redis.register_script(RESET_LUA)
        self._no_script = redis.exceptions.NoScriptError

    def orphans(self, prefix: str, records: list[str], fix: bool) -> list[str]:
        if not records:
            return []
        out = self._call(self._orphans, keys=records, args=[prefix, "1" if fix else "0"])
        return [name.decode() for name in out]

    def recount(self, prefix: str, counters: list[str], fix: bool) -> list[tuple[str, int, int]]:
        out = self._call(self._recount, keys=counters, args=[prefix, "1" if fix else "0"])
        return [(out[i].decode(), int(out[i + 1]), int(out[i + 2])) for i in range(0, len(out), 3)]

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._errors as exc:
            raise Unavailable(str(exc)) from exc

    def reserve(self, n: dict, args: list) -> list:
        # The hot path: EVALSHA straight through ``execute_command`` (the Script wrapper's
        # own checks cost ~15 µs a call); the script is loaded once if Redis lost it.
        sha = self._reserve.sha
        try:
            return self.redis.execute_command(
                "EVALSHA", sha, 4, n["ks"], n["kr"], n["wa"], n["wr"], *args
            )
        except self._no_script:
            return self._call(self._reserve, keys=[n["ks"], n["kr"], n["wa"], n["wr"]], args=args)
        except self._errors as exc:
            raise Unavailable(str(exc)) from exc

    def reserve_and_read(self, n: dict, args: list, entry: str, version: str) -> list:
        names_ = [n["ks"], n["kr"], n["wa"], n["wr"], entry, version]
        try:
            return self.redis.execute_command("EVALSHA", self._reserve_read.sha, 6, *names_, *args)
        except self._no_script:
            return self._call(self._reserve_read, keys=names_, args=args)
        except self._errors as exc:
            raise Unavailable(str(exc)) from exc

    def settle(self, prefix: str, ids: list[str], moves: list[tuple]) -> list:
        keys = [name for c, g, _a, m, acc in moves for name in (c, g, m, acc)]
        amounts_ = [amount for _c, _g, amount, _m, _acc in moves]
        args = [prefix, len(ids), *ids, *amounts_, SPEND_COUNTER_SECONDS]
        return self._call(self._settle, keys=keys, args=args)

    def expire(self, prefix: str, now_ms: int, limit: int) -> int:
        return self._call(self._expire, keys=[], args=[prefix, now_ms, limit])

    def mget(self, keys: list[str]) -> list:
        values = self._call(self.redis.mget, keys)
        return [v.decode() if isinstance(v, bytes) else v for v in values]

    def rebuild(self, n: dict, args: list) -> None:
        order = ("ks", "kg", "wa", "wg", "seen", "wseen", "kr", "wr", "ksa", "waa", "epoch")
        names_ = [n[name] for name in order]
        self._call(self._rebuild, keys=names_, args=args)

    def rebuild_read(self, n: dict, token: str) -> list:
        names_ = [n[name] for name in ("epoch", "kg", "wg", "ksa", "waa")]
        out = self._call(self._rebuild_read, keys=names_, args=[token])
        return [v.decode() if isinstance(v, bytes) else v for v in out]

    def scan(self, pattern: str) -> list[str]:
        return [k.decode() for k in self._call(self.redis.scan_iter, pattern, count=1000)]

    def hgetall(self, name: str) -> dict:
        raw = self._call(self.redis.hgetall, name)
        return {k.decode(): v.decode() for k, v in raw.items()}

    def set(self, name: str, value: int) -> None:
        self._call(self.redis.set, name, value)

    def reset(self) -> None:
        """Delete every name of the prefix in one atomic step (Redis losing its data)."""
        self._call(self._reset, keys=[], args=[_prefix() + "*"])


class MemoryStore:
    """The same operations in one process, under one lock (dev and the SQLite tests)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, int | str] = {}
        self.records: dict[str, dict] = {}
        self.expiry: dict[str, int] = {}

    def _get(self, name: str) -> int:
        return int(self.values.get(name, 0))

    def _incr(self, name: str, amount: int) -> int:
        self.values[name] = self._get(name) + amount
        return self.values[name]

    def _expire_locked(self, prefix: str, now_ms: int, limit: int) -> int:
        due = sorted((at, id_) for id_, at in self.expiry.items() if at <= now_ms)[:limit]
        for _at, id_ in due:
            self._release_locked(prefix, id_)
        return len(due)

    def _release_locked(self, prefix: str, id_: str) -> int:
        live = self.expiry.pop(id_, None) is not None
        r = self.records.pop(id_, None)
        if r is None or not live:
            return 0
        if r["k"] is not None:
            self._incr(f"{prefix}kr:{r['k']}:{r['p']}", -r["a"])
        self._incr(f"{prefix}wr:{r['o']}", -r["a"])
        return r["a"]

    def reserve(self, n: dict, args: list) -> list:
        prefix, capped, cap, amount, minimum, now_ms, expiry_ms, key, org, period = args[:10]
        count, ids = int(args[10]), args[11:]
        with self.lock:
            self._expire_locked(prefix, int(now_ms), LAZY_EXPIRE)
            if capped == "1" and n["ks"] not in self.values:
                return [MISSING_KEY]
            if n["wa"] not in self.values:
                return [MISSING_WALLET]
            spent, kres = self._get(n["ks"]), self._get(n["kr"])
            available, wres = self._get(n["wa"]), self._get(n["wr"])
            cap, amount, minimum = int(cap), int(amount), int(minimum)
            state = [spent, kres, available, wres]
            if capped == "1" and (spent + kres >= cap or spent + kres + amount > cap):
                return [OVER_CAP, *state, 0]
            if available - wres < minimum or available - wres - amount < 0:
                return [NO_CREDITS, *state, 0]
            if amount <= 0:
                return [OK, *state, 0]
            granted = 1
            if count > 1:
                fit = min((available - wres) // amount, (available - wres - minimum) // amount + 1)
                if capped == "1":
                    fit = min(fit, (cap - spent - kres) // amount)
                granted = min(count, max(1, fit // 2))
            kres = self._incr(n["kr"], amount * granted)
            wres = self._incr(n["wr"], amount * granted)
            for id_ in ids[:granted]:
                self.records[id_] = {"k": key, "o": org, "p": period, "a": amount}
                self.expiry[id_] = int(expiry_ms)
            return [OK, spent, kres, available, wres, granted]

    def settle(self, prefix: str, ids: list[str], moves: list[tuple]) -> list:
        with self.lock:
            out = [self._release_locked(prefix, id_) for id_ in ids]
            for counter, gen, amount, marker, acc in moves:
                if amount == 0:
                    if self.values.pop(counter, None) is not None and marker:
                        self.values[marker] = 1
                    self._incr(gen, 1)
                elif counter in self.values:
                    self._incr(counter, amount)
                else:
                    self._incr(acc, amount)
            return out

    def expire(self, prefix: str, now_ms: int, limit: int) -> int:
        with self.lock:
            return self._expire_locked(prefix, now_ms, limit)

    def mget(self, keys: list[str]) -> list:
        with self.lock:
            return [None if k not in self.values else str(self.values[k]) for k in keys]

    def _build_locked(
        self, counter: str, gen_key: str, gen: str, acc_key: str, acc: str, value: int
    ) -> str:
        if counter in self.values:
            return "live"
        if str(self.values.get(gen_key, "0")) != gen or (acc_key not in self.values and acc != "0"):
            return "moved"  # a credit or a fix, or the accumulator read before is gone
        self.values[counter] = int(value) + self._get(acc_key) - int(acc)
        self.values.pop(acc_key, None)
        return "built"

    def _hold_locked(self, marker: str, state: str, record: dict, id_: str, expiry: int) -> None:
        if state == "moved" or marker in self.values:
            return
        self.values[marker] = 1
        if state != "built" or record["a"] <= 0:
            return
        if record["k"] is not None:
            self._incr(f"{record['prefix']}kr:{record['k']}:{record['p']}", record["a"])
        self._incr(f"{record['prefix']}wr:{record['o']}", record["a"])
        self.records[id_] = {k: v for k, v in record.items() if k != "prefix"}
        self.expiry[id_] = int(expiry)

    def rebuild_read(self, n: dict, token: str) -> list:
        with self.lock:
            self.values.setdefault(n["epoch"], token)
            names_ = ("epoch", "kg", "wg", "ksa", "waa")
            return [None if n[k] not in self.values else str(self.values[n[k]]) for k in names_]

    def rebuild(self, n: dict, args: list) -> None:
        (prefix, capped, key_gen, spend, _ttl, wallet_gen, available, key, org, period) = args[:10]
        key_hold_id, key_hold, key_expiry, wallet_hold_id, wallet_hold, wallet_expiry = args[10:16]
        key_acc, wallet_acc, epoch = args[16:]
        with self.lock:
            if str(self.values.get(n["epoch"])) != epoch:
                return  # the data was lost since the reads: the caller reads again
            if capped == "1":
                state = self._build_locked(n["ks"], n["kg"], key_gen, n["ksa"], key_acc, spend)
                record = {"prefix": prefix, "k": key, "o": org, "p": period, "a": int(key_hold)}
                self._hold_locked(n["seen"], state, record, key_hold_id, key_expiry)
            state = self._build_locked(
                n["wa"], n["wg"], wallet_gen, n["waa"], wallet_acc, available
            )
            record = {"prefix": prefix, "k": None, "o": org, "p": None, "a": int(wallet_hold)}
            self._hold_locked(n["wseen"], state, record, wallet_hold_id, wallet_expiry)

    def orphans(self, prefix: str, records: list[str], fix: bool) -> list[str]:
        with self.lock:
            out = []
            for name in records:
                id_ = name[len(prefix) + 2 :]
                if id_ in self.records and id_ not in self.expiry:
                    out.append(name)
                    if fix:
                        del self.records[id_]
            return out

    def recount(self, prefix: str, counters: list[str], fix: bool) -> list[tuple[str, int, int]]:
        with self.lock:
            truth = dict.fromkeys(counters, 0)
            for id_, r in self.records.items():
                if id_ not in self.expiry:
                    continue  # an orphan: counts nowhere (see ``orphans``)
                names_ = [f"{prefix}wr:{r['o']}"]
                if r["k"] is not None:
                    names_.append(f"{prefix}kr:{r['k']}:{r['p']}")
                for name in names_:
                    truth[name] = truth.get(name, 0) + r["a"]
            out = []
            for name, total in truth.items():
                value = self._get(name)
                if value != total:
                    out.append((name, value, total))
                    if fix:
                        self.values[name] = total
            return out

    def scan(self, pattern: str) -> list[str]:
        start = pattern.rstrip("*")
        with self.lock:
            found = [k for k in self.values if k.startswith(start)]
            found += [f"{_prefix()}r:{id_}" for id_ in self.records]
            return found

    def hgetall(self, name: str) -> dict:
        id_ = name.rsplit("r:", 1)[1]
        with self.lock:
            r = self.records.get(id_)
            return {k: str(v) for k, v in r.items() if v is not None} if r else {}

    def set(self, name: str, value: int) -> None:
        with self.lock:
            self.values[name] = int(value)

    def reset(self) -> None:
        with self.lock:
            self.values.clear()
            self.records.clear()
            self.expiry.clear()


_store: RedisStore | MemoryStore | None = None
_store_lock = threading.Lock()


def store() -> RedisStore | MemoryStore:
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                url = getattr(settings, "RESERVATIONS_REDIS_URL", "") or settings.REDIS_URL
                _store = RedisStore(url) if url else MemoryStore()
    return _store


def use_store(new) -> None:
    """Replace the process's store (tests: another Redis db, or a fresh memory store)."""
    global _store
    _store = new


def new_id() -> str:
    return "rsv_" + secrets.token_urlsafe(12)


class _RandomPool:
    """Bytes from the system's random source, read 4 KiB at a time: a lease's ids cost a
    slice, not a system call (~25 µs on a VM). A forked child never uses its parent's bytes
    (two gunicorn workers would hand out the same ids): the pool belongs to one pid."""

    SIZE = 4096

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = 0
        self.buffer = b""
        self.offset = 0

    def take(self, size: int) -> bytes:
        if size > self.SIZE:
            return secrets.token_bytes(size)
        with self.lock:
            if self.pid != os.getpid() or self.offset + size > len(self.buffer):
                self.pid, self.buffer, self.offset = os.getpid(), secrets.token_bytes(self.SIZE), 0
            start = self.offset
            self.offset += size
            return self.buffer[start : start + size]


_random = _RandomPool()


def new_ids(count: int) -> list[str]:
    """``count`` ids like ``new_id``'s (12 random bytes each, never reused)."""
    raw = _random.take(12 * count)
    return ["rsv_" + urlsafe_b64encode(raw[i : i + 12]).decode() for i in range(0, 12 * count, 12)]


def now_ms() -> int:
    return int(time.time() * 1000)


def clock() -> float:
    """The monotonic clock of the per-worker leases and counters (tests move it)."""
    return time.monotonic()


# --- what verification, ingestion and the beat tasks call --------------------------------


def _spend_from_db(key_pk: int, period: str) -> int:
    from .models import KeyMonthSpend  # noqa: PLC0415 - keeps the store importable alone

    return (
        KeyMonthSpend.objects.filter(key_id=key_pk, period=period)
        .values_list("spend_microcredits", flat=True)
        .first()
        or 0
    )


def _available_from_db(org_pk: int) -> int:
    from billing.selectors import wallet_balances  # noqa: PLC0415 - the store stays importable alone

    return wallet_balances(organization_id=org_pk)["available_microcredits"]


def _rebuild(n: dict, *, key_pk: int, org_pk: int, period: str, cap: int | None) -> None:
    """Counters missing: read PostgreSQL and build them in one script, unless PostgreSQL
    moved meanwhile (the generation changed): then the next attempt reads again.

    After Redis lost its data (no ``seen:`` / ``wseen:`` marker), calls reserved before the
    loss may still be in flight, and their reservations are gone. If the key verified
    within the TTL (``last_verified_at`` is written at most once a minute: + 60 s), its
    whole remaining cap is held; if any key of the owner did, the wallet's whole available
    balance is held ("unknown in flight"); each until a TTL after that verification. The
    same script builds the counters and places the holds."""
    from .models import ApiKey  # noqa: PLC0415 - the store stays importable alone

    s = store()
    epoch, key_gen, wallet_gen, key_acc, wallet_acc = s.rebuild_read(n, new_id())
    capped = cap is not None
    spend = _spend_from_db(key_pk, period) if capped else 0
    available = _available_from_db(org_pk)
    now = now_ms()
    window = (settings.RESERVATION_TTL_SECONDS + 60) * 1000
    last = ApiKey.objects.filter(organization_id=org_pk).aggregate(
        key=Max("last_verified_at", filter=Q(pk=key_pk)), owner=Max("last_verified_at")
    )
    key_expiry = int(last["key"].timestamp() * 1000) + window if last["key"] else 0
    owner_expiry = int(last["owner"].timestamp() * 1000) + window if last["owner"] else 0
    key_hold = max(0, (cap or 0) - spend) if capped and key_expiry > now else 0
    wallet_hold = max(0, available) if owner_expiry > now else 0
    prefix = _prefix()
    s.rebuild(
        n,
        [
            prefix,
            "1" if capped else "0",
            key_gen or "0",
            spend,
            SPEND_COUNTER_SECONDS,
            wallet_gen or "0",
            available,
            key_pk,
            org_pk,
            period,
            f"recover_{key_pk}_{new_id()}",
            key_hold,
            key_expiry,
            f"recover_w{org_pk}_{new_id()}",
            wallet_hold,
            owner_expiry,
            key_acc or "0",
            wallet_acc or "0",
            epoch,
        ],
    )


def lease_calls() -> int:
    """How many calls' worth one reservation script may reserve at once (1: no leases)."""
    return max(1, int(getattr(settings, "RESERVATION_LEASE_CALLS", 1)))


def _reserve_args(
    *, key_pk: int, org_pk: int, period: str, cap, amount: int, minimum: int, count: int = 1
):
    prefix = _prefix()
    now = now_ms()
    ids = new_ids(count if amount > 0 else 1)
    args = [
        prefix,
        "1" if cap is not None else "0",
        cap or 0,
        amount,
        minimum,
        now,
        now + settings.RESERVATION_TTL_SECONDS * 1000,
        key_pk,
        org_pk,
        period,
        len(ids),
        *ids,
    ]
    return names(prefix, key_pk, org_pk, period), ids, args


def _outcome(answer: list, ids: list[str], amount: int) -> Outcome | None:
    """The script's answer as an Outcome for the first reservation granted (the others of
    a lease in ``lease``); None when a counter is missing."""
    status = answer[0].decode() if isinstance(answer[0], bytes) else answer[0]
    if status in (MISSING_KEY, MISSING_WALLET):
        return None
    spent, kres, available, wres = (int(v) for v in answer[1:5])
    granted = int(answer[5]) if status == OK and amount > 0 else 0
    # Numbers as if the lease's reservations were made one by one: this one is the first.
    rest = amount * max(0, granted - 1)
    return Outcome(
        status=status,
        reservation_id=ids[0] if granted else None,
        spent=spent,
        key_reserved=kres - rest,
        available=available,
        wallet_reserved=wres - rest,
        lease=ids[1:granted],
        leased=max(0, granted - 1),
    )


def reserve(
    *,
    key_pk: int,
    org_pk: int,
    period: str,
    cap: int | None,
    amount: int,
    minimum: int,
    lease: bool = False,
) -> Outcome:
    """Reserve ``amount`` µcr for one call against the key's cap (when it has one) and the
    wallet's available balance (which must also stay ≥ ``minimum``). Raises Unavailable.

    ``lease``: the caller has just checked the key against its current entry; the call
    may then take one of this worker's leased reservations for the same call (no round
    trip), or the script may reserve a lease of up to ``RESERVATION_LEASE_CALLS`` calls
    whose rest this worker hands out for ``RESERVATION_LEASE_SECONDS``."""
    shape = (key_pk, org_pk, period, cap, amount, minimum)
    count = lease_calls() if lease and amount > 0 else 1
    if count > 1:
        taken = leases.take(shape)
        if taken is not None:
            return taken
    elif lease and amount <= 0:
        checked = counters_seen.check(key_pk, org_pk, period, cap=cap, minimum=minimum)
        if checked is not None:
            return checked
    for attempt in range(REBUILD_ATTEMPTS):
        n, ids, args = _reserve_args(
            key_pk=key_pk,
            org_pk=org_pk,
            period=period,
            cap=cap,
            amount=amount,
            minimum=minimum,
            count=count,
        )
        outcome = _outcome(store().reserve(n, args), ids, amount)
        if outcome is not None:
            lease_keep(outcome, shape)
            return outcome
        if attempt < REBUILD_ATTEMPTS - 1:
            _rebuild(n, key_pk=key_pk, org_pk=org_pk, period=period, cap=cap)
    raise Contended("the reservation counters could not be rebuilt")


def reads_shared_cache() -> bool:
    """Whether the store is the shared cache's Redis (``reserve_and_read`` possible)."""
    s = store()
    cache = settings.CACHES["default"]
    return (
        isinstance(s, RedisStore)
        and cache["BACKEND"].endswith("RedisCache")
        and cache.get("LOCATION") == s.url
    )


def reserve_and_read(
    *,
    key_pk: int,
    org_pk: int,
    period: str,
    cap: int | None,
    amount: int,
    minimum: int,
    cache_names: tuple[str, str],
    lease: bool = False,
) -> tuple[Outcome | None, bytes | None, bytes | None]:
    """``reserve`` and the raw values of two shared-cache names (the cache's full names),
    read in the same script: one round trip. The outcome is None when a counter was
    missing (nothing reserved: call ``reserve``, which rebuilds). Only when
    ``reads_shared_cache()``. Raises Unavailable. With ``lease`` the script may grant a
    lease: its other reservations are in ``outcome.lease``, not yet kept (the caller keeps
    them with ``lease_keep`` once the entry read here proved current, else releases
    them with the outcome's)."""
    n, ids, args = _reserve_args(
        key_pk=key_pk,
        org_pk=org_pk,
        period=period,
        cap=cap,
        amount=amount,
        minimum=minimum,
        count=lease_calls() if lease and amount > 0 else 1,
    )
    answer = store().reserve_and_read(n, args, *cache_names)
    return _outcome(answer, ids, amount), answer[6], answer[7]


def shape_of(*, key_pk: int, org_pk: int, period: str, cap, amount: int, minimum: int) -> tuple:
    """What a leased reservation must match to be handed out for a call."""
    return (key_pk, org_pk, period, cap, amount, minimum)


class _CountersSeen:
    """The counters this worker's last script answered per key, wallet and month, kept
    for ``VERIFY_LOCAL_CACHE_SECONDS`` (as the entry's copy): a call that reserves nothing
    (no model named) is checked against them without a round trip. Nothing is reserved
    on them, so they cannot take a reservation past a cap or a balance; they only let
    such a call through (or refuse it) on numbers up to half a second old — the age of
    the entry copy whose status and cap it was checked against anyway."""

    MAX_ITEMS = 10_000

    def __init__(self) -> None:
        self.items: dict[tuple, tuple[float, int, int, int, int]] = {}

    def put(self, key_pk: int, org_pk: int, period: str, outcome: Outcome, amount: int) -> None:
        seconds = settings.VERIFY_LOCAL_CACHE_SECONDS
        if seconds <= 0:
            return
        if len(self.items) >= self.MAX_ITEMS:
            self.items.clear()
        # The counters after the script: a lease's whole amount is in them.
        rest = len(outcome.lease) * amount
        self.items[(key_pk, org_pk, period)] = (
            clock() + seconds,
            outcome.spent,
            outcome.key_reserved + rest,
            outcome.available,
            outcome.wallet_reserved + rest,
        )

    def check(self, key_pk: int, org_pk: int, period: str, *, cap, minimum: int):
        """The reservation script's checks for a call of amount 0, on the counters seen;
        None when none are fresh."""
        item = self.items.get((key_pk, org_pk, period))
        if item is None or item[0] <= clock():
            return None
        _deadline, spent, kres, available, wres = item
        if cap is not None and spent + kres >= cap:
            status = OVER_CAP
        elif available - wres < minimum:
            status = NO_CREDITS
        else:
            status = OK
        return Outcome(status, None, spent, kres, available, wres)

    def clear(self) -> None:
        self.items.clear()


counters_seen = _CountersSeen()


# --- per-worker leases -------------------------------------------------------------------


@dataclass(slots=True)
class _Lease:
    ids: list[str]  # not handed out yet (the last is next)
    amount: int
    spent: int
    key_reserved: int  # as answered to the last call served from the lease
    available: int
    wallet_reserved: int
    deadline: float  # monotonic: handed out until then, returned after


class Leases:
    """This process's leased reservations, by call shape (key, wallet, month, cap, amount,
    minimum): every one of them is an ordinary reservation record, counted in Redis like
    any other, so settlement, expiry, ``caps_check`` and the cap are unchanged. A call
    takes one without a round trip; what is not handed out within
    ``RESERVATION_LEASE_SECONDS`` is released by a daemon thread (and at exit), in one
    script per sweep. A lease is never inherited by a forked child (the parent owns it)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.items: dict[tuple, _Lease] = {}
        self._due: list[list[str]] = []  # replaced leases, to release
        self.janitor: threading.Thread | None = None

    def take(self, shape: tuple) -> Outcome | None:
        with self.cond:
            lease = self.items.get(shape)
            if lease is None or lease.deadline <= clock():
                return None  # an expired lease is the janitor's to release
            id_ = lease.ids.pop()
            if not lease.ids:
                del self.items[shape]
            lease.key_reserved += lease.amount
            lease.wallet_reserved += lease.amount
            return Outcome(
                status=OK,
                reservation_id=id_,
                spent=lease.spent,
                key_reserved=lease.key_reserved,
                available=lease.available,
                wallet_reserved=lease.wallet_reserved,
                from_lease=True,
            )

    def keep(self, shape: tuple, outcome: Outcome) -> None:
        seconds = float(getattr(settings, "RESERVATION_LEASE_SECONDS", 1.0))
        lease = _Lease(
            ids=list(reversed(outcome.lease)),
            amount=shape[4],
            spent=outcome.spent,
            key_reserved=outcome.key_reserved,
            available=outcome.available,
            wallet_reserved=outcome.wallet_reserved,
            deadline=clock() + seconds,
        )
        outcome.lease = []
        with self.cond:
            old = self.items.get(shape)
            if old is not None and old.deadline > clock():
                lease.ids = old.ids + lease.ids  # two threads missed at once: both kept
            elif old is not None:
                self._due.append(old.ids)
            self.items[shape] = lease
            if self.janitor is None or not self.janitor.is_alive():
                self.janitor = threading.Thread(
                    target=self._sweep_forever, name="reservation-leases", daemon=True
                )
                self.janitor.start()
            self.cond.notify()

    def due(self, *, everything: bool = False) -> list[str]:
        """Take out of the process the leased reservations past their time (all of them
        with ``everything``); the caller releases them."""
        now = clock()
        with self.cond:
            expired = [s for s, lease in self.items.items() if everything or lease.deadline <= now]
            ids = [id_ for shape in expired for id_ in self.items.pop(shape).ids]
            for batch in self._due:
                ids.extend(batch)
            self._due.clear()
            return ids

    def release_due(self, *, everything: bool = False) -> int:
        """Release what ``due`` takes out (left to expire when the store does not answer)."""
        ids = self.due(everything=everything)
        if not ids:
            return 0
        try:
            settle(ids=ids)
        except Unavailable:
            logger.warning(
                "reservation store unavailable: %d leased reservations left to expire", len(ids)
            )
        return len(ids)

    def _sweep_forever(self) -> None:
        while True:
            with self.cond:
                if self.items:
                    wait = min(lease.deadline for lease in self.items.values()) - clock()
                else:
                    wait = None if not self._due else 0
                if wait is None or wait > 0:
                    self.cond.wait(timeout=wait)
            try:
                self.release_due()
            except Exception:  # the thread must outlive any one failure
                logger.exception("releasing leased reservations failed")

    def held(self) -> int:
        """How many leased reservations this process holds (tests, the bench)."""
        with self.cond:
            return sum(len(lease.ids) for lease in self.items.values()) + sum(
                len(batch) for batch in self._due
            )


leases = Leases()
# A forked child starts with no lease: handing out its parent's would grant one twice.
os.register_at_fork(after_in_child=leases._reset)
os.register_at_fork(after_in_child=counters_seen.clear)


@atexit.register
def _release_leases_at_exit() -> None:
    try:
        leases.release_due(everything=True)
    except Exception:  # at exit: what is left expires with the TTL
        logger.warning("leased reservations left to expire at exit", exc_info=True)


def lease_keep(outcome: Outcome, shape: tuple) -> None:
    """After a script answered for an entry proved current: remember the counters it saw
    and keep the other reservations of a lease it granted with ``outcome``."""
    key_pk, org_pk, period, _cap, amount, _minimum = shape
    counters_seen.put(key_pk, org_pk, period, outcome, amount)
    if outcome.lease:
        leases.keep(shape, outcome)


def amounts(ids: list[str]) -> dict[str, int]:
    """The reserved amount of each live reservation among ``ids`` (absent: unknown)."""
    if not ids:
        return {}
    prefix = _prefix()
    s = store()
    found = {}
    for id_ in ids:
        record = s.hgetall(f"{prefix}r:{id_}")
        if record:
            found[id_] = int(record["a"])
    return found


def settle(
    *,
    ids: list[str],
    spend: dict[tuple[int, str], int] | None = None,
    wallets: dict[int, int] | None = None,
) -> list[int]:
    """After a commit that moved money: release the reservations (each once: the first
    settlement deletes the record) and move the counters PostgreSQL moved, in one script.
    ``spend`` is µcr added per (key pk, month); ``wallets`` the change of available balance
    per organization pk. Spend and debits move an existing counter (a counter rebuilt
    after the commit counts them twice until reconciled: refused calls, never an
    overshoot); a credit (> 0) or 0 deletes it, rebuilt from PostgreSQL. Returns the
    released amounts (0 for an unknown or already settled id)."""
    prefix = _prefix()
    moves = [
        (f"{prefix}ks:{k}:{p}", f"{prefix}kg:{k}", v, f"{prefix}seen:{k}", f"{prefix}ksa:{k}:{p}")
        for (k, p), v in (spend or {}).items()
    ]
    for org, delta in (wallets or {}).items():
        amount = delta if delta < 0 else 0  # a credit drops the counter
        n = (f"{prefix}wa:{org}", f"{prefix}wg:{org}", f"{prefix}wseen:{org}", f"{prefix}waa:{org}")
        moves.append((n[0], n[1], amount, n[2], n[3]))
    return [int(v) for v in store().settle(prefix, list(ids), moves)]


def settle_or_journal(
    *,
    ids: list[str],
    spend: dict[tuple[int, str], int] | None = None,
    wallets: dict[int, int] | None = None,
) -> bool:
    """``settle``, run after a commit; if the store does not answer, the settlement is
    written to PostgreSQL (``PendingSettlement``) and applied by the beat tasks once the
    store is back (``settle_pending``). False when it was journalled."""
    try:
        settle(ids=ids, spend=spend, wallets=wallets)
    except Unavailable:
        from .models import PendingSettlement  # noqa: PLC0415 - the store stays importable alone

        logger.warning("reservation store unavailable: settlement journalled", exc_info=True)
        PendingSettlement.objects.create(
            reservation_ids=list(ids),
            spend=[[key_pk, period, amount] for (key_pk, period), amount in (spend or {}).items()],
            wallets=[[org_pk, delta] for org_pk, delta in (wallets or {}).items()],
        )
        return False
    return True


def settle_pending(limit: int = 500) -> int:
    """Apply the journalled settlements, oldest first, each once (a row is deleted in the
    transaction that saw it applied; concurrent sweeps skip each other's rows). Stops at
    the first the store refuses. Returns how many were applied. A row applied whose delete
    then failed is applied again: its spend counted twice, towards refusing, until the
    reconcile task fixes the counter."""
    from django.db import transaction  # noqa: PLC0415 - the store stays importable alone
    from django.db.models import F  # noqa: PLC0415 - the store stays importable alone

    from .models import PendingSettlement  # noqa: PLC0415 - the store stays importable alone

    with transaction.atomic():
        rows = list(
            PendingSettlement.objects.select_for_update(skip_locked=True).order_by("pk")[:limit]
        )
        applied: list[int] = []
        for row in rows:
            try:
                settle(
                    ids=row.reservation_ids,
                    spend={(key_pk, period): amount for key_pk, period, amount in row.spend},
                    wallets={org_pk: delta for org_pk, delta in row.wallets},
                )
            except Unavailable:
                logger.warning("reservation store unavailable: settlements still pending")
                break
            applied.append(row.pk)
        PendingSettlement.objects.filter(pk__in=applied).delete()
        left = [row.pk for row in rows[len(applied) :]]
        if left:
            PendingSettlement.objects.filter(pk__in=left).update(attempts=F("attempts") + 1)
    return len(applied)


def pending_settlements() -> int:
    from .models import PendingSettlement  # noqa: PLC0415 - the store stays importable alone

    return PendingSettlement.objects.count()


def expire_due(limit: int = 1000) -> int:
    """Release the reservations past their expiry; returns how many."""
    return int(store().expire(_prefix(), now_ms(), limit))


def reconcile(*, fix: bool = False) -> list[str]:
    """What drifted between the counters and PostgreSQL: each key's month spend, each
    wallet's balance − held, and every reserved counter against the sum of its live
    reservation records. With ``fix``, a drifted spend or balance counter is dropped (the
    next verification rebuilds it from PostgreSQL) and a reserved counter is set to its
    records' sum, in the same atomic step that counted them. Raises Unavailable."""
    prefix = _prefix()
    s = store()
    drift: list[str] = []
    if fix:
        settle_pending()
    pending = pending_settlements()
    if pending:
        drift.append(f"settlements pending: {pending} (the store refused them after commit)")
    counters = s.scan(prefix + "*")
    values = dict(zip(counters, s.mget(counters), strict=True)) if counters else {}
    for name, raw in sorted(values.items()):
        rest = name[len(prefix) :]
        kind, _, ident = rest.partition(":")
        if raw is None or kind not in ("ks", "wa"):
            continue
        value = int(raw)
        if kind == "ks":
            key_pk, period = ident.split(":")
            truth = _spend_from_db(int(key_pk), period)
        else:
            truth = _available_from_db(int(ident))
        if value != truth:
            drift.append(f"{rest}: counter {value}, truth {truth}")
            if fix:
                owner = ident.split(":")[0]
                gen = f"{prefix}{'kg' if kind == 'ks' else 'wg'}:{owner}"
                marker = f"{prefix}{'seen' if kind == 'ks' else 'wseen'}:{owner}"
                s.settle(prefix, [], [(name, gen, 0, marker, "")])
    reserved_counters = [name for name in values if name[len(prefix) :].startswith(("kr:", "wr:"))]
    for name, value, truth in sorted(s.recount(prefix, sorted(reserved_counters), fix)):
        drift.append(f"{name[len(prefix) :]}: counter {value}, truth {truth}")
    records = sorted(name for name in values if name[len(prefix) :].startswith("r:"))
    for name in s.orphans(prefix, records, fix):
        drift.append(f"{name[len(prefix) :]}: orphan record (no expiry entry; counts nowhere)")
    return drift


def reserved(*, key_pk: int, org_pk: int, period: str) -> tuple[int, int]:
    """What is reserved now against the key's month and against the wallet (0, 0 when the
    store does not answer: PostgreSQL's numbers are then shown alone)."""
    n = names(_prefix(), key_pk, org_pk, period)
    try:
        key_reserved, wallet_reserved = store().mget([n["kr"], n["wr"]])
    except Unavailable:
        return 0, 0
    return int(key_reserved or 0), int(wallet_reserved or 0)


def wallet_reserved(*, organization_id: int) -> int:
    """µcr reserved against the owner's wallet by calls in flight (0 when the store does not
    answer)."""
    try:
        (value,) = store().mget([f"{_prefix()}wr:{organization_id}"])
    except Unavailable:
        return 0
    return int(value or 0)
