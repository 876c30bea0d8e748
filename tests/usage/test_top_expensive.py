"""The most expensive requests, found through the rollups' per-bucket maximum cost: exactly
the raw top 10 for every filter the page and the API accept, ties and the raw tail
included, whatever refreshes do meanwhile."""

import importlib
import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.apikeys.factories import key_make, personal
from tests.usage.analytics import ev
from usage import rollups, selectors
from usage.models import UsageEvent, UsageRollupHourModel, UsageRollupKey, UsageRollupState

pytestmark = pytest.mark.django_db

MODELS = ("gpt-5.5", "claude-opus-4-6", "flux-pro", "veo-3")
ENDPOINTS = ("chat.completions", "messages", "images")
STATUSES = (200, 200, 200, 201, 302, 404, 429, 500, 503)
#: Few distinct costs: ties everywhere (the order is then time, then id).
COSTS = (0, 1, 500, 500, 2_000, 2_000, 2_000, 70_000, 70_000, 3_000_000)


def refresh(seconds: int = 60) -> dict:
    return rollups.rollup_refresh(now=timezone.now() + timedelta(seconds=seconds))


def flt(org, start, end, **fields) -> selectors.UsageFilter:
    return selectors.UsageFilter(
        organization=org, start=start, end=end, tz=ZoneInfo("UTC"), **fields
    )


def brute_force(f: selectors.UsageFilter, count: int = 10) -> list[int]:
    """The top ``count`` by reading every event of the tenant in Python."""
    classes = selectors.STATUS_CLASSES

    def keep(e: UsageEvent) -> bool:
        if not f.start <= e.occurred_at < f.end:
            return False
        if f.key is not None and e.key_id != f.key.pk:
            return False
        if (f.model and e.model != f.model) or (f.endpoint and e.endpoint != f.endpoint):
            return False
        if (
            f.status in classes
            and not classes[f.status][0] <= e.status_code <= classes[f.status][1]
        ):
            return False
        if f.status and f.status not in classes and e.status_code != int(f.status):
            return False
        if f.min_latency_ms is not None and e.latency_ms < f.min_latency_ms:
            return False
        if f.max_latency_ms is not None and e.latency_ms > f.max_latency_ms:
            return False
        if f.min_cost is not None and e.cost_microcredits < f.min_cost:
            return False
        if f.max_cost is not None and e.cost_microcredits > f.max_cost:
            return False
        return not f.q or e.request_id == f.q

    rows = [e for e in UsageEvent.objects.filter(organization=f.organization) if keep(e)]
    rows.sort(key=lambda e: (e.cost_microcredits, e.occurred_at, e.pk), reverse=True)
    return [e.pk for e in rows[:count]]


def top(f: selectors.UsageFilter, count: int = 10) -> list[int]:
    return [e.pk for e in selectors.usage_top_expensive(f, count=count)]


@pytest.fixture
def org_keys(user):
    org = personal(user)
    keys = [key_make(org=org, actor=user, name=name)[0] for name in ("prod", "batch", "test")]
    return org, keys


def scatter(keys, rng: random.Random, count: int, start: datetime, end: datetime, **fields):
    span = int((end - start).total_seconds())
    for _ in range(count):
        status = rng.choice(STATUSES)
        ev(
            rng.choice(keys),
            # Whole minutes: events of one instant tie on cost and time (the id decides).
            at=start + timedelta(minutes=rng.randrange(span // 60)),
            model=rng.choice(MODELS),
            endpoint=rng.choice(ENDPOINTS),
            status_code=status,
            cost=rng.choice(COSTS),
            latency_ms=rng.choice((50, 300, 300, 2_000, 9_000)),
            **fields,
        )


def filters(keys, request_id: str) -> list[dict]:
    return [
        {},
        {"key": keys[0]},
        {"model": "flux-pro"},
        {"endpoint": "messages"},
        {"status": "2xx"},
        {"status": "4xx"},
        {"status": "5xx"},
        {"status": "429"},
        {"status": "302"},  # no class: the "other" buckets
        {"key": keys[1], "model": "veo-3"},
        {"key": keys[2], "endpoint": "images", "status": "2xx"},
        {"key": keys[0], "status": "500"},
        {"model": "gpt-5.5", "endpoint": "chat.completions", "status": "2xx"},
        {"min_latency_ms": 1_000},
        {"max_latency_ms": 100},
        {"min_latency_ms": 300, "max_latency_ms": 300, "model": "veo-3"},
        {"min_cost": 2_000},
        {"max_cost": 2_000},
        {"min_cost": 500, "max_cost": 70_000, "key": keys[1]},
        {"max_cost": 0},
        {"min_cost": 10_000_000},  # nothing
        {"q": request_id},
        {"q": request_id, "model": "no-such-model"},
    ]


def test_the_top_equals_the_raw_top_for_every_filter_range_and_tail(org_keys):
    """Seeded random events with heavy ties; rolled up, then a tail recorded after the
    watermark in the same hours (and late events in old hours); every filter and range
    (whole hours, partial hours at both ends, under an hour) in two rounds: with the tail,
    and after the tail is rolled up."""
    org, keys = org_keys
    rng = random.Random(20261129)
    span = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 4, tzinfo=UTC)
    scatter(keys, rng, 400, *span)
    refresh()
    later = UsageRollupState.objects.get().watermark + timedelta(seconds=1)
    scatter(keys, rng, 120, *span, recorded_at=later)  # the tail
    some = UsageEvent.objects.filter(organization=org).order_by("pk")[17].request_id
    ranges = [
        span,
        (span[0] + timedelta(hours=5, minutes=13), span[1] - timedelta(hours=2, minutes=7)),
        (span[0] + timedelta(hours=30, minutes=5), span[0] + timedelta(hours=30, minutes=50)),
        (span[0] - timedelta(days=3), span[1] + timedelta(days=3)),
    ]
    compared = 0
    for round_ in range(2):
        for start, end in ranges:
            for fields in filters(keys, some):
                f = flt(org, start, end, **fields)
                expected = brute_force(f)
                assert top(f) == expected, (round_, start, end, fields)
                assert top(f, count=3) == expected[:3]
                compared += 1
        refresh(seconds=120)  # round 2: the tail is in the buckets
    assert compared == 2 * len(ranges) * len(filters(keys, some))
    assert rollups.rollup_check(start=span[0], end=span[1]) == []


def test_ties_on_cost_across_many_hours_read_only_the_latest_buckets(org_keys):
    """Every event costs the same: the top 10 are the 10 latest, and the walk stops after
    the buckets that can hold them (equal bound, hour ending before the 10th event)."""
    org, (prod, *_rest) = org_keys
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for hour in range(48):
        for minute in (5, 35):
            ev(prod, at=start + timedelta(hours=hour, minutes=minute), cost=7)
    refresh()
    f = flt(org, start, start + timedelta(days=2))
    with CaptureQueriesContext(connection) as queries:
        got = top(f)
    assert got == brute_force(f)
    assert [e.occurred_at for e in UsageEvent.objects.filter(pk__in=got)] and len(got) == 10
    raw_reads = [
        q["sql"]
        for q in queries.captured_queries
        if "usage_usageevent" in q["sql"] and "ORDER BY" in q["sql"]
    ]
    assert len(raw_reads) == 2  # the tail, then one batch of buckets: nothing else
    # The batch named only the 16 latest buckets (of 48), not every hour of the range.
    assert raw_reads[1].count("occurred_at") <= 2 * selectors._TOP_FIRST_BATCH + 2


def test_a_bucket_bound_never_hides_a_cheaper_filtered_event(org_keys):
    """The most expensive bucket holds one costly fast call and a cheap slow one: under a
    latency filter the walk must go past the costly one to find the cheap one."""
    org, (prod, *_rest) = org_keys
    at = datetime(2026, 10, 2, 9, 10, tzinfo=UTC)
    big = ev(prod, at=at, cost=9_000_000, latency_ms=10)
    slow = ev(prod, at=at, cost=3, latency_ms=8_000)
    for i in range(30):
        ev(prod, at=at + timedelta(hours=i + 1), cost=1_000 + i, latency_ms=10)
    refresh()
    day = flt(org, at - timedelta(hours=1), at + timedelta(days=2))
    assert top(day, count=1) == [big.pk]
    slow_only = flt(org, day.start, day.end, min_latency_ms=5_000)
    assert top(slow_only) == [slow.pk] == brute_force(slow_only)
    capped = flt(org, day.start, day.end, max_cost=1_005)
    assert top(capped) == brute_force(capped)


def test_an_event_recorded_after_the_watermark_is_in_the_top_at_once(org_keys):
    org, (prod, batch, _test) = org_keys
    at = timezone.now() - timedelta(days=2)
    for i in range(12):
        ev(prod, at=at + timedelta(hours=i), cost=100 + i)
    refresh()
    f = flt(org, at - timedelta(days=1), timezone.now() + timedelta(hours=1))
    watermark = UsageRollupState.objects.get().watermark
    late = ev(batch, at=at + timedelta(minutes=3), cost=5_000, recorded_at=watermark)
    assert top(f)[0] == late.pk  # a late event in an old, already rolled-up hour
    assert UsageRollupKey.objects.filter(key=batch).count() == 0  # not in a bucket yet
    assert top(f) == brute_force(f)
    refresh(seconds=120)
    assert top(f) == brute_force(f)


def test_a_refresh_committing_during_the_walk_retries_then_reads_raw(org_keys, monkeypatch):
    org, keys = org_keys
    scatter(keys, random.Random(4), 80, timezone.now() - timedelta(days=3), timezone.now())
    refresh()
    f = flt(org, timezone.now() - timedelta(days=4), timezone.now() + timedelta(hours=1))
    expected = brute_force(f)
    ticks = iter(range(1_000))
    reads = []

    def moving() -> datetime:
        reads.append(1)
        return rollups.EPOCH + timedelta(seconds=next(ticks))

    monkeypatch.setattr(selectors, "rollup_watermark", moving)
    assert top(f) == expected
    assert len(reads) == 2 * selectors._ATTEMPTS  # each walk: before and after


def test_a_walk_past_the_bucket_limit_asks_the_raw_events(org_keys, monkeypatch):
    """A filter the buckets cannot narrow and nothing matches walks every bucket; past the
    limit the raw events answer (exact all the same)."""
    org, (prod, *_rest) = org_keys
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for hour in range(40):
        ev(prod, at=start + timedelta(hours=hour, minutes=1), cost=10 + hour, latency_ms=10)
    ev(prod, at=start + timedelta(minutes=2), cost=1, latency_ms=9_000)
    refresh()
    monkeypatch.setattr(selectors, "_TOP_MAX_BUCKETS", 16)
    f = flt(org, start, start + timedelta(days=2), min_latency_ms=5_000)
    walks = []
    original = selectors._top_walk

    def spy(*args):
        walks.append(original(*args))
        return walks[-1]

    monkeypatch.setattr(selectors, "_top_walk", spy)
    assert top(f) == brute_force(f) and len(top(f)) == 1
    assert walks and all(w is None for w in walks)  # every walk gave up: the raw query


def test_the_migration_fills_each_buckets_maximum(org_keys):
    """Migration 0004 fills ``max_cost_microcredits`` of the buckets that exist (they were
    written before the column): afterwards ``usage_check`` is clean."""
    _org, keys = org_keys
    scatter(keys, random.Random(8), 60, timezone.now() - timedelta(days=2), timezone.now())
    refresh()
    for shape in rollups.SHAPES:
        shape.model.objects.update(max_cost_microcredits=0)
    start, end = timezone.now() - timedelta(days=3), timezone.now() + timedelta(hours=1)
    assert rollups.rollup_check(start=start, end=end)  # the zeros do not match
    migration = importlib.import_module("usage.migrations.0004_top_by_bucket_max")
    migration.fill_max_cost(apps, SimpleNamespace(connection=connection))
    assert rollups.rollup_check(start=start, end=end) == []
    assert UsageRollupHourModel.objects.filter(max_cost_microcredits__gt=0).exists()


def test_no_index_of_the_events_is_ordered_by_cost():
    """The cost-ordered btrees are gone (each cost every ingested event an update); the
    watermark reads a BRIN index on PostgreSQL."""
    from usage.models import UsageEvent as Event  # noqa: PLC0415 - the model under test

    fields = [tuple(i.fields) for i in Event._meta.indexes]
    assert not [f for f in fields if "cost_microcredits" in f]
    assert len(fields) == 6
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'usage_usageevent'"
            )
            found = dict(cursor.fetchall())
        assert "USING brin (recorded_at)" in found["usage_event_recorded_brin"]
        assert not {"usage_event_recorded", "usage_event_org_cost"} & set(found)
        assert sum(" USING btree " in d for d in found.values()) == 5  # 4 + the primary key
