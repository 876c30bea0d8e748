"""Reads of usage events for the console's pages (the usage issue builds on these)."""

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from apikeys.models import ApiKey
from billing.money import parse_credits
from hypereal_site.api.errors import ApplicationError
from hypereal_site.csvstream import Column
from orgs.models import Organization

from .models import UsageEvent
from .rollups import (
    HOUR,
    SHAPE_FULL,
    SHAPE_HOUR_MODEL,
    SHAPE_KEY,
    SHAPE_MODEL,
    Shape,
    hour_ceil,
    hour_floor,
    rollup_watermark,
)


def month_start(now: datetime | None = None) -> datetime:
    """The first instant of the current calendar month in UTC (spend months are UTC)."""
    now = (now or timezone.now()).astimezone(UTC)
    return datetime(now.year, now.month, 1, tzinfo=UTC)


def usage_month_summary(*, organization: Organization, now: datetime | None = None) -> dict:
    """Requests and spend (µcr) of the organization's events in the current UTC month
    (rollups plus the raw tail; an event is never more than minutes in the future)."""
    now = now or timezone.now()
    f = UsageFilter(
        organization=organization,
        start=month_start(now),
        end=max(now, timezone.now()) + timedelta(days=1),
        tz=ZoneInfo("UTC"),
    )
    totals = usage_totals(f)
    return {"requests": totals["requests"], "cost_microcredits": totals["cost"]}


def usage_total_requests(*, organization: Organization) -> int:
    return UsageEvent.objects.filter(organization=organization).count()


def usage_seen(*, organization: Organization) -> bool:
    """Whether any request of the organization's keys has ever been recorded."""
    return UsageEvent.objects.filter(organization=organization).exists()


# --- analytics: the /usage page, /api/api-usage and its export ------------------------------
#
# One filter (``UsageFilter``) parsed once from query parameters by ``usage_filter_parse``
# and read by the page, the API and the export alike. Today every figure aggregates the raw
# events (real time by construction); the functions below take the filter and return plain
# rows, so pre-aggregated rollups plus the raw tail can later replace the queries behind
# them without touching their callers.

#: The ranges a page or an API may ask for, in days.
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
TOP_MODELS = 8
STATUS_CLASSES = {"2xx": (200, 299), "4xx": (400, 499), "5xx": (500, 599)}

#: Every query parameter the usage API takes; anything else is refused (a typo such as
#: ``minCosts`` must never silently widen an export).
PARAMETERS = frozenset(
    {
        "days",
        "from",
        "to",
        "key",
        "model",
        "endpoint",
        "status",
        "minLatencyMs",
        "maxLatencyMs",
        "minCost",
        "maxCost",
        "q",
        "cursor",
        "limit",
    }
)


@dataclass(frozen=True)
class UsageFilter:
    organization: Organization
    start: datetime  # inclusive
    end: datetime  # exclusive
    tz: ZoneInfo
    days: int | None = None  # set when the range came from ``days``
    key: ApiKey | None = None
    model: str = ""
    endpoint: str = ""
    status: str = ""
    min_latency_ms: int | None = None
    max_latency_ms: int | None = None
    min_cost: int | None = None  # µcr
    max_cost: int | None = None  # µcr
    q: str = ""

    def describe(self) -> dict:
        """The range and the filters in use, as the export's audit event stores them."""
        out: dict = {"from_at": self.start.isoformat(), "to_at": self.end.isoformat()}
        for name, value in (
            ("days", self.days),
            ("key", self.key.public_id if self.key else ""),
            ("model", self.model),
            ("endpoint", self.endpoint),
            ("status", self.status),
            ("min_latency_ms", self.min_latency_ms),
            ("max_latency_ms", self.max_latency_ms),
            ("min_cost_microcredits", self.min_cost),
            ("max_cost_microcredits", self.max_cost),
            ("request_id", self.q),
        ):
            if value not in ("", None):
                out[name] = value
        return out


def _bad(message: str) -> ApplicationError:
    return ApplicationError("invalid_parameter", message, status=400)


def _int_param(params, name: str, *, low: int, high: int) -> int | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    if not text.isdigit() or not low <= int(text) <= high:
        raise _bad(
            _("%(name)s must be a whole number from %(low)s to %(high)s.")
            % {"name": name, "low": low, "high": high}
        )
    return int(text)


def _cost_param(params, name: str) -> int | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        return parse_credits(text)
    except ValueError as exc:
        raise _bad(_("%(field)s: %(message)s") % {"field": name, "message": exc}) from None


def _instant_param(params, name: str, tz: ZoneInfo, *, end: bool) -> datetime | None:
    """A date (a whole day in the viewer's zone; ``to`` includes its day) or a datetime
    (naive means the viewer's zone)."""
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
        moment = None if day else datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(
            _("%(name)s must be a date (YYYY-MM-DD) or an ISO 8601 time.") % {"name": name}
        ) from None
    if day is not None:
        if day < date(2000, 1, 1) or day > date(2999, 12, 30):
            raise _bad(_("%(name)s is out of range.") % {"name": name})
        if end:
            day += timedelta(days=1)
        return datetime.combine(day, time.min, tzinfo=tz)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


def viewer_zone(user) -> ZoneInfo:
    """The signed-in person's zone (account page), UTC when unset or no longer known."""
    try:
        return ZoneInfo(getattr(user, "timezone", "") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def usage_filter_parse(
    *,
    organization: Organization,
    params,
    tz: ZoneInfo | str = "UTC",
    now: datetime | None = None,
    strict: bool = True,
) -> UsageFilter:
    """The range and filters of the query parameters, or ``ApplicationError`` (400; a key
    of another tenant is 404). ``strict`` refuses unknown parameters (the API)."""
    if isinstance(tz, str):
        tz = ZoneInfo(tz)
    if strict:
        unknown = sorted(set(params) - PARAMETERS)
        if unknown:
            raise _bad(_("Unknown parameter: %(names)s.") % {"names": ", ".join(unknown)})
    now = now or timezone.now()
    days = _int_param(params, "days", low=1, high=MAX_RANGE_DAYS)
    start = _instant_param(params, "from", tz, end=False)
    end = _instant_param(params, "to", tz, end=True)
    if days is not None and (start or end):
        raise _bad(_("Give either days or from/to, not both."))
    if start or end:
        end = end or now
        start = start or end - timedelta(days=DEFAULT_RANGE_DAYS)
        if start >= end:
            raise _bad(_("from must be before to."))
        if end - start > timedelta(days=MAX_RANGE_DAYS + 1):
            raise _bad(_("A range spans at most %(days)s days.") % {"days": MAX_RANGE_DAYS})
    else:
        days = days or DEFAULT_RANGE_DAYS
        start, end = now - timedelta(days=days), now
    status = (params.get("status") or "").strip().lower()
    if (
        status
        and status not in STATUS_CLASSES
        and not (status.isdigit() and 100 <= int(status) <= 599)
    ):
        raise _bad(_("status must be 2xx, 4xx, 5xx or a status code."))
    key = None
    key_id = (params.get("key") or "").strip()
    if key_id:
        key = ApiKey.objects.filter(organization=organization, public_id=key_id).first()
        if key is None:
            raise ApplicationError("not_found", _("No such key."), status=404)
    return UsageFilter(
        organization=organization,
        start=start,
        end=end,
        tz=tz,
        days=days,
        key=key,
        model=(params.get("model") or "").strip()[:100],
        endpoint=(params.get("endpoint") or "").strip()[:32],
        status=status,
        min_latency_ms=_int_param(params, "minLatencyMs", low=0, high=2**31 - 1),
        max_latency_ms=_int_param(params, "maxLatencyMs", low=0, high=2**31 - 1),
        min_cost=_cost_param(params, "minCost"),
        max_cost=_cost_param(params, "maxCost"),
        q=(params.get("q") or "").strip()[:128],
    )


def usage_limit_parse(params) -> int:
    return _int_param(params, "limit", low=1, high=MAX_LIMIT) or DEFAULT_LIMIT


def usage_events(f: UsageFilter) -> QuerySet[UsageEvent]:
    """The filtered events of the tenant (no order)."""
    return _filtered(
        UsageEvent.objects.filter(
            organization=f.organization, occurred_at__gte=f.start, occurred_at__lt=f.end
        ),
        f,
    )


def _filtered(qs: QuerySet[UsageEvent], f: UsageFilter) -> QuerySet[UsageEvent]:
    """``qs`` narrowed by every filter of ``f`` but its range."""
    if f.key is not None:
        qs = qs.filter(key=f.key)
    if f.model:
        qs = qs.filter(model=f.model)
    if f.endpoint:
        qs = qs.filter(endpoint=f.endpoint)
    if f.status in STATUS_CLASSES:
        qs = qs.filter(status_code__range=STATUS_CLASSES[f.status])
    elif f.status:
        qs = qs.filter(status_code=int(f.status))
    if f.min_latency_ms is not None:
        qs = qs.filter(latency_ms__gte=f.min_latency_ms)
    if f.max_latency_ms is not None:
        qs = qs.filter(latency_ms__lte=f.max_latency_ms)
    if f.min_cost is not None:
        qs = qs.filter(cost_microcredits__gte=f.min_cost)
    if f.max_cost is not None:
        qs = qs.filter(cost_microcredits__lte=f.max_cost)
    if f.q:
        qs = qs.filter(request_id=f.q)
    return qs


# Keyset pagination: newest first by (occurred_at, id); the cursor is the last row's pair,
# opaque to clients (URL-safe base64 of "<iso time>|<id>").


def cursor_encode(event: UsageEvent) -> str:
    raw = f"{event.occurred_at.astimezone(UTC).isoformat()}|{event.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, pk = raw.split("|")
        occurred = datetime.fromisoformat(moment)
        if occurred.tzinfo is None or not pk.isdigit():
            raise ValueError
        return occurred, int(pk)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise _bad(_("The cursor is not valid; start again without it.")) from None


def usage_log_page(
    f: UsageFilter, *, cursor: str = "", limit: int = DEFAULT_LIMIT
) -> tuple[list[UsageEvent], str | None]:
    """One page of the log, newest first, after ``cursor``; and the next page's cursor."""
    qs = usage_events(f).select_related("key")
    if cursor:
        occurred, pk = cursor_decode(cursor)
        qs = qs.filter(Q(occurred_at__lt=occurred) | Q(occurred_at=occurred, pk__lt=pk))
    rows = list(qs.order_by("-occurred_at", "-pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, cursor_encode(rows[-1]) if more and rows else None


def usage_top_expensive(f: UsageFilter, *, count: int = 10) -> list[UsageEvent]:
    qs = usage_events(f).select_related("key")
    return list(qs.order_by("-cost_microcredits", "-occurred_at", "-pk")[:count])


# --- aggregates: rollups + raw tail ------------------------------------------------------
#
# Every aggregate below is one SQL statement (one snapshot, so the watermark, the buckets
# and the tail agree): ``UNION ALL`` of
#   * the rollup buckets of the whole UTC hours inside the range ``[h0, h1)``, and
#   * the raw events of the range's partial hours at either end, plus the raw events of the
#     whole hours recorded at or after the watermark (the tail: real time), plus, for a
#     daily series in a zone whose midnight is not on a UTC hour (Asia/Kolkata), the raw
#     events of the hours that straddle a local midnight;
# summed in Python. A filter no bucket can answer (an exact status code, latency or cost
# bounds, a request id) reads the raw events alone.

_SUMS = ("input_tokens", "output_tokens", "images", "seconds", "clips")
#: Reads of rollups + tail tried before falling back to the raw events alone.
_ATTEMPTS = 3
_TOTAL_NAMES = ("requests", *_SUMS, "cost")


def _rollup_shape(f: UsageFilter, group: tuple[str, ...]) -> Shape | None:
    """The smallest rollup shape that answers ``f`` grouped by ``group``, or None."""
    if (
        f.q
        or (f.status and f.status not in STATUS_CLASSES)
        or f.min_latency_ms is not None
        or f.max_latency_ms is not None
        or f.min_cost is not None
        or f.max_cost is not None
    ):
        return None
    need_key = f.key is not None or "key_id" in group
    need_model = bool(f.model or f.endpoint) or "model" in group or "endpoint" in group
    if not need_key:
        if f.endpoint or f.status or "endpoint" in group:
            return SHAPE_MODEL
        return SHAPE_HOUR_MODEL
    return SHAPE_FULL if need_model else SHAPE_KEY


def _split_hours(f: UsageFilter, h0: datetime, h1: datetime) -> list[datetime]:
    """The whole hours of ``[h0, h1)`` that straddle a midnight of the viewer's zone (none
    for a zone whose offsets are whole hours, DST included)."""
    out = []
    hour = h0
    while hour < h1:
        if (
            hour.astimezone(f.tz).date()
            != (hour + HOUR - timedelta(microseconds=1)).astimezone(f.tz).date()
        ):
            out.append(hour)
        hour += HOUR
    return out


def _fetch(qs) -> list[dict]:
    """The rows of an aggregate over buckets. On PostgreSQL with ``work_mem`` raised for
    this one statement (``USAGE_ROLLUP_WORK_MEM``): the default 4 MB makes a month of
    buckets grouped by day and model spill its sort to disk instead of hashing in memory
    (about twice as slow)."""
    if connection.vendor != "postgresql":
        return list(qs)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.USAGE_ROLLUP_WORK_MEM])
        return list(qs)


def _aggregate(
    f: UsageFilter,
    group: tuple[str, ...] = (),
    *,
    daily: bool = False,
    raw_only: bool = False,
    units: bool = True,
) -> dict:
    """``{(day?, *group values): {requests, input_tokens, …, cost}}`` of ``f``'s events
    (the units left at 0 unless ``units``: fewer columns, read from an index alone)."""
    unit_names = _SUMS if units else ()
    sums_raw = {
        "n": Count("pk"),
        **{f"s_{name}": Sum(name) for name in unit_names},
        "s_cost": Sum("cost_microcredits"),
    }
    names = (*(("day",) if daily else ()), *group)
    grouping = names or ("organization_id",)  # one row per query: the tenant's
    shape = None if raw_only else _rollup_shape(f, group)
    h0, h1 = hour_ceil(f.start), hour_floor(f.end)
    if shape is None or h0 >= h1:
        raw = usage_events(f)
        if daily:
            raw = raw.annotate(day=TruncDate("occurred_at", tzinfo=f.tz))
        rows = raw.values(*grouping).annotate(**sums_raw).order_by()
    else:
        split = _split_hours(f, h0, h1) if daily else []
        rolled = shape.model.objects.filter(organization=f.organization, hour__gte=h0, hour__lt=h1)
        if f.key is not None:
            rolled = rolled.filter(key=f.key)
        if f.model:
            rolled = rolled.filter(model=f.model)
        if f.endpoint:
            rolled = rolled.filter(endpoint=f.endpoint)
        if f.status:
            rolled = rolled.filter(status_class=f.status)
        if split:
            rolled = rolled.exclude(hour__in=split)
        if daily:
            rolled = rolled.annotate(day=TruncDate("hour", tzinfo=f.tz))
        rolled = (
            rolled.values(*grouping)
            .annotate(
                n=Sum("events"),
                **{f"s_{name}": Sum(name) for name in unit_names},
                s_cost=Sum("cost_microcredits"),
            )
            .order_by()
        )
        rows = None
        for _attempt in range(_ATTEMPTS):
            watermark = rollup_watermark()
            tail = (
                Q(occurred_at__gte=f.start, occurred_at__lt=h0)
                | Q(occurred_at__gte=h1, occurred_at__lt=f.end)
                | Q(occurred_at__gte=h0, occurred_at__lt=h1, recorded_at__gte=watermark)
            )
            for hour in split:
                tail |= Q(occurred_at__gte=hour, occurred_at__lt=hour + HOUR)
            raw = _filtered(UsageEvent.objects.filter(tail, organization=f.organization), f)
            if daily:
                raw = raw.annotate(day=TruncDate("occurred_at", tzinfo=f.tz))
            raw = raw.values(*grouping).annotate(**sums_raw).order_by()
            found = _fetch(rolled.union(raw, all=True))
            if rollup_watermark() == watermark:  # no refresh committed around the statement
                rows = found
                break
        if rows is None:  # refreshes kept committing: the raw events alone are exact
            return _aggregate(f, group, daily=daily, raw_only=True, units=units)
    out: dict[tuple, dict] = {}
    for r in rows:
        bucket = out.setdefault(tuple(r[n] for n in names), dict.fromkeys(_TOTAL_NAMES, 0))
        bucket["requests"] += r["n"] or 0
        for name in unit_names:
            bucket[name] += r[f"s_{name}"] or 0
        bucket["cost"] += r["s_cost"] or 0
    return out


def usage_totals(f: UsageFilter) -> dict:
    return _aggregate(f).get((), dict.fromkeys(_TOTAL_NAMES, 0))


def _by_model(rows: dict) -> list[dict]:
    out: dict[str, dict] = {}
    for key, v in rows.items():
        r = out.setdefault(key[-1], {"model": key[-1], "requests": 0, "cost": 0})
        r["requests"] += v["requests"]
        r["cost"] += v["cost"]
    return sorted(out.values(), key=lambda r: (-r["cost"], r["model"]))


def usage_cost_by_model(f: UsageFilter) -> list[dict]:
    """``[{model, requests, cost}]``, most expensive first."""
    return _by_model(_aggregate(f, ("model",)))


def usage_cost_by_key(f: UsageFilter) -> list[dict]:
    """``[{key_id, key_name, requests, cost}]``, most expensive first."""
    sums = _aggregate(f, ("key_id",), units=False)
    keys = ApiKey.objects.filter(organization=f.organization, pk__in=[k for (k,) in sums]).only(
        "public_id", "name"
    )
    rows = [
        {
            "key_id": key.public_id,
            "key_name": key.name,
            "requests": sums[(key.pk,)]["requests"],
            "cost": sums[(key.pk,)]["cost"],
        }
        for key in keys
    ]
    return sorted(rows, key=lambda r: (-r["cost"], r["key_name"], r["key_id"]))


def _local_days(f: UsageFilter) -> list[date]:
    first = f.start.astimezone(f.tz).date()
    last = (f.end - timedelta(microseconds=1)).astimezone(f.tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _daily(f: UsageFilter, rows: dict, split_models: list[str] | None) -> list[dict]:
    out = {d: {"date": d, "requests": 0, "cost": 0, "models": {}} for d in _local_days(f)}
    wanted = set(split_models or ())
    for (day, model), v in rows.items():
        bucket = out.setdefault(day, {"date": day, "requests": 0, "cost": 0, "models": {}})
        bucket["requests"] += v["requests"]
        bucket["cost"] += v["cost"]
        name = model if model in wanted else ""
        bucket["models"][name] = bucket["models"].get(name, 0) + v["cost"]
    return [out[d] for d in sorted(out)]


def usage_daily(f: UsageFilter, *, split_models: list[str] | None = None) -> list[dict]:
    """``[{date, requests, cost, models: {model: cost}}]`` for every day of the range in the
    viewer's zone (zero-filled). ``TruncDate(tzinfo=…)`` is ``AT TIME ZONE`` on PostgreSQL
    and zoneinfo on SQLite: exact for any zone, half-hour offsets and DST included (the
    hours a rollup bucket cannot place in one local day are read raw)."""
    return _daily(f, _aggregate(f, ("model",), daily=True), split_models)


@dataclass(frozen=True)
class UsageOverview:
    """Totals, cost by model and the daily series of one filter, from one query (what
    ``usage_totals``, ``usage_cost_by_model`` and ``usage_daily`` answer one by one)."""

    f: UsageFilter
    rows: dict  # {(local day, model): sums}

    @property
    def totals(self) -> dict:
        out = dict.fromkeys(_TOTAL_NAMES, 0)
        for v in self.rows.values():
            for name in _TOTAL_NAMES:
                out[name] += v[name]
        return out

    @property
    def by_model(self) -> list[dict]:
        return _by_model(self.rows)

    def daily(self, *, split_models: list[str] | None = None) -> list[dict]:
        return _daily(self.f, self.rows, split_models)


def usage_overview(f: UsageFilter) -> UsageOverview:
    return UsageOverview(f=f, rows=_aggregate(f, ("model",), daily=True))


def usage_recent_daily(
    *, organization: Organization, tz: ZoneInfo, days: int = 30, now: datetime | None = None
) -> list[dict]:
    """``usage_daily`` for the last ``days`` whole days in ``tz``, today included (the
    dashboard's sparkline): the same buckets ``/usage`` draws for that range."""
    today = (now or timezone.now()).astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    f = UsageFilter(
        organization=organization,
        start=datetime.combine(first, time.min, tzinfo=tz),
        end=datetime.combine(today + timedelta(days=1), time.min, tzinfo=tz),
        tz=tz,
    )
    return usage_daily(f)


def usage_event_get(*, organization: Organization, request_id: str) -> UsageEvent:
    """One event of the tenant by its request id (404 for anyone else's)."""
    event = (
        UsageEvent.objects.select_related("key")
        .filter(organization=organization, request_id=request_id)
        .first()
    )
    if event is None:
        raise Http404("No such request.")
    return event


#: Every (model, endpoint) pair of a tenant's hourly buckets, one index probe a pair
#: (PostgreSQL has no skip scan: a recursive query walks the distinct pairs of the
#: ``(organization, model, endpoint, hour)`` index), kept where a bucket of the range exists.
_SEEN_PAIRS_SQL = """
WITH RECURSIVE pairs AS (
  (SELECT model, endpoint FROM {table} WHERE organization_id = %(org)s
   ORDER BY model, endpoint LIMIT 1)
  UNION ALL
  SELECT n.model, n.endpoint FROM pairs p CROSS JOIN LATERAL (
    SELECT model, endpoint FROM {table}
    WHERE organization_id = %(org)s AND (model, endpoint) > (p.model, p.endpoint)
    ORDER BY model, endpoint LIMIT 1) n
)
SELECT model, endpoint FROM pairs p WHERE EXISTS (
  SELECT 1 FROM {table} r WHERE r.organization_id = %(org)s AND r.model = p.model
  AND r.endpoint = p.endpoint AND r.hour >= %(low)s AND r.hour < %(high)s)
"""


def _seen_pairs(f: UsageFilter) -> set[tuple[str, str]]:
    """The (model, endpoint) pairs of ``f``'s range (no other filter): rollups + tail."""
    h0, h1 = hour_ceil(f.start), hour_floor(f.end)
    if connection.vendor != "postgresql" or h0 >= h1:
        return set(_aggregate(f, ("model", "endpoint"), units=False))
    table = SHAPE_MODEL.table
    for _attempt in range(_ATTEMPTS):
        watermark = rollup_watermark()
        with connection.cursor() as cursor:
            cursor.execute(
                _SEEN_PAIRS_SQL.format(table=table),
                {"org": f.organization.pk, "low": h0, "high": h1},
            )
            seen = {(model, endpoint) for model, endpoint in cursor.fetchall()}
        tail = (
            Q(occurred_at__gte=f.start, occurred_at__lt=h0)
            | Q(occurred_at__gte=h1, occurred_at__lt=f.end)
            | Q(occurred_at__gte=h0, occurred_at__lt=h1, recorded_at__gte=watermark)
        )
        seen.update(
            UsageEvent.objects.filter(tail, organization=f.organization)
            .values_list("model", "endpoint")
            .distinct()
            .order_by()
        )
        if rollup_watermark() == watermark:  # no refresh committed between the reads
            return seen
    return set(_aggregate(f, ("model", "endpoint"), raw_only=True, units=False))


def usage_filter_options(*, organization: Organization) -> dict:
    """What the page's filters offer: the tenant's keys, and the models and endpoints seen
    in the last ``MAX_RANGE_DAYS`` days."""
    now = timezone.now()
    seen = _seen_pairs(
        UsageFilter(
            organization=organization,
            start=now - timedelta(days=MAX_RANGE_DAYS),
            end=now + timedelta(days=1),  # an event is never more than minutes ahead
            tz=ZoneInfo("UTC"),
        )
    )
    return {
        "api_keys": list(ApiKey.objects.filter(organization=organization).order_by("name")),
        "models": sorted({model for model, _endpoint in seen}),
        "endpoints": sorted({endpoint for _model, endpoint in seen}),
    }


#: The export's columns (the issue's names), oldest row first.
USAGE_CSV_COLUMNS = (
    Column("created_at", "occurred_at", "time"),
    Column("request_id", "request_id"),
    Column("key_id", "key__public_id"),
    Column("key_name", "key__name"),
    Column("endpoint", "endpoint"),
    Column("model", "model"),
    Column("provider", "provider"),
    Column("status_code", "status_code"),
    Column("latency_ms", "latency_ms"),
    Column("input_tokens", "input_tokens"),
    Column("output_tokens", "output_tokens"),
    Column("images", "images"),
    Column("seconds", "seconds"),
    Column("clips", "clips"),
    Column("requests", "requests"),
    Column("cost_credits", "cost_microcredits", "microcredits"),
    Column("cost_usd", "cost_microcredits", "usd"),
)
