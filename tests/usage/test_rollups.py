"""Rollups: the beat task's watermark, late events, idempotence, usage_check, retention,
and every aggregate equal to the raw answer (seeded random data, DST and half-hour zones)."""

import io
import random
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from tests.apikeys.factories import key_make, personal
from tests.usage.analytics import ev
from usage import rollups, selectors
from usage.models import (
    UsageEvent,
    UsageRollup,
    UsageRollupHourModel,
    UsageRollupKey,
    UsageRollupModel,
    UsageRollupState,
)

pytestmark = pytest.mark.django_db

ZONES = (
    "UTC",
    "America/New_York",  # DST: 2026-03-08 and 2026-11-01
    "Europe/London",  # DST: 2026-03-29 and 2026-10-25
    "Asia/Kolkata",  # +05:30: local midnight inside a UTC hour
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # +10:30/+11: half-hour DST
)
MODELS = ("gpt-5.5", "claude-opus-4-6", "flux-pro", "veo-3", "audio-tts")
ENDPOINTS = ("chat.completions", "messages", "images", "videos", "audio")
STATUSES = (200, 200, 200, 201, 204, 302, 400, 404, 429, 500, 503)


def refresh(seconds: int = 60) -> dict:
    """The beat task at a moment after every event written so far (beyond the settle)."""
    return rollups.rollup_refresh(now=timezone.now() + timedelta(seconds=seconds))


def flt(org, tz="UTC", start=None, end=None, **fields) -> selectors.UsageFilter:
    end = end or timezone.now() + timedelta(hours=1)
    start = start or end - timedelta(days=30)
    return selectors.UsageFilter(organization=org, start=start, end=end, tz=ZoneInfo(tz), **fields)


def answers(f: selectors.UsageFilter) -> dict:
    overview = selectors.usage_overview(f)
    return {
        "overview": (
            overview.totals,
            overview.by_model,
            overview.daily(split_models=list(MODELS[:2])),
        ),
        "totals": selectors.usage_totals(f),
        "by_model": selectors.usage_cost_by_model(f),
        "by_key": selectors.usage_cost_by_key(f),
        "daily": selectors.usage_daily(f, split_models=list(MODELS[:2])),
    }


def raw_answers(f: selectors.UsageFilter, monkeypatch) -> dict:
    """What the selectors answer from the raw events alone (the rollups ignored)."""
    with monkeypatch.context() as m:
        m.setattr(selectors, "_rollup_shape", lambda f, group: None)
        return answers(f)


def rollup_rows() -> dict:
    return {
        shape.name: sorted(
            tuple(row) for row in shape.model.objects.values_list(*rollups._columns(shape))
        )
        for shape in rollups.SHAPES
    }


def stable(page: bytes) -> bytes:
    """A page without what differs on every request: its (masked) CSRF tokens."""
    return re.sub(rb"[A-Za-z0-9]{64}", b"*", page)


def check(**kwargs) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("usage_check", stdout=out, stderr=err, **kwargs)
    except SystemExit as exc:
        return int(exc.code), out.getvalue() + err.getvalue()
    return 0, out.getvalue()


@pytest.fixture
def org_keys(user):
    org = personal(user)
    keys = [key_make(org=org, actor=user, name=name)[0] for name in ("prod", "batch", "test")]
    return org, keys


def scatter(keys, rng: random.Random, count: int, start: datetime, end: datetime, **fields) -> None:
    span = (end - start).total_seconds()
    for _ in range(count):
        status = rng.choice(STATUSES)
        ev(
            rng.choice(keys),
            at=start + timedelta(seconds=rng.random() * span),
            model=rng.choice(MODELS),
            endpoint=rng.choice(ENDPOINTS),
            status_code=status,
            cost=0 if status >= 400 else rng.randint(0, 5_000_000),
            input_tokens=rng.randint(0, 10_000),
            output_tokens=rng.randint(0, 2_000),
            images=rng.randint(0, 3),
            seconds=rng.randint(0, 30),
            clips=rng.randint(0, 2),
            latency_ms=rng.randint(10, 9_000),
            **fields,
        )


# --- maintenance ---------------------------------------------------------------------------


def test_refresh_builds_every_shape_and_the_check_passes(org_keys):
    _org, (prod, batch, _test) = org_keys
    at = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    ev(prod, at=at, cost=100)
    ev(prod, at=at + timedelta(minutes=30), cost=200, status_code=500)
    ev(batch, at=at, cost=50, model="flux-pro", endpoint="images", images=2)
    result = refresh()
    assert result["buckets"] == 1 and not result["skipped"]
    assert UsageRollupState.objects.get().watermark == result["watermark"]
    row = UsageRollupKey.objects.get(key=prod, status_class="2xx")
    assert (row.hour, row.events, row.cost_microcredits, row.input_tokens) == (
        datetime(2026, 11, 20, 10, tzinfo=UTC), 1, 100, 100,
    )  # fmt: skip
    assert UsageRollupKey.objects.get(key=prod, status_class="5xx").cost_microcredits == 200
    model_row = UsageRollupModel.objects.get(model="flux-pro")
    assert (model_row.endpoint, model_row.images, model_row.events) == ("images", 2, 1)
    assert UsageRollup.objects.count() == 3
    by_hour = UsageRollupHourModel.objects.get(model="gpt-5.5")  # 2xx and 5xx in one row
    assert (by_hour.events, by_hour.cost_microcredits) == (2, 300)
    code, output = check(start="2026-11-01", end="2026-12-01")
    assert code == 0, output
    assert "rollups match" in output


def test_refresh_and_rebuild_replace_never_add(org_keys):
    _org, keys = org_keys
    scatter(keys, random.Random(7), 60, timezone.now() - timedelta(days=5), timezone.now())
    refresh()
    first = rollup_rows()
    refresh(seconds=120)  # the overlap re-reads every bucket again: nothing doubles
    assert rollup_rows() == first
    call_command(
        "usage_rollup", rebuild=True, start="2020-01-01", end="2030-01-01", stdout=io.StringIO()
    )
    assert rollup_rows() == first
    assert sum(r[4] for r in first["UsageRollupKey"]) == 60


def test_refresh_moves_nothing_before_the_settle(org_keys):
    refresh()
    watermark = UsageRollupState.objects.get().watermark
    assert rollups.rollup_refresh(now=watermark)["buckets"] == 0  # now - settle < watermark
    assert UsageRollupState.objects.get().watermark == watermark


def test_a_late_event_lands_in_its_old_bucket(org_keys):
    """Reported now, occurred 80 days ago: the watermark reads ``recorded_at``, so the next
    refresh recomputes the 80-day-old bucket; before that the raw tail has it."""
    org, (prod, *_rest) = org_keys
    old = (timezone.now() - timedelta(days=80)).replace(minute=10)
    ev(prod, at=old, cost=1_000)
    refresh()
    f = flt(org, start=old - timedelta(days=2), end=old + timedelta(days=2))
    assert selectors.usage_totals(f)["cost"] == 1_000
    watermark = UsageRollupState.objects.get().watermark
    ev(prod, at=old + timedelta(minutes=5), cost=7, recorded_at=watermark + timedelta(seconds=1))
    assert selectors.usage_totals(f)["cost"] == 1_007  # the tail: real time
    assert UsageRollupKey.objects.get().cost_microcredits == 1_000
    result = refresh(seconds=120)
    assert result["buckets"] == 1
    assert UsageRollupKey.objects.get().cost_microcredits == 1_007
    assert selectors.usage_totals(f)["cost"] == 1_007  # not counted twice
    assert check(start=(old - timedelta(days=1)).date().isoformat())[0] == 0


def test_the_overlap_catches_an_event_committed_after_its_watermark(org_keys):
    """A batch stamped ``recorded_at`` and committed after a refresh passed that time: the
    next refresh re-reads the overlap before the old watermark and folds it in."""
    org, (prod, *_rest) = org_keys
    at = timezone.now() - timedelta(hours=3)
    ev(prod, at=at, cost=10)
    refresh()
    watermark = UsageRollupState.objects.get().watermark
    slow = ev(prod, at=at, cost=5)
    UsageEvent.objects.filter(pk=slow.pk).update(recorded_at=watermark - timedelta(seconds=30))
    assert selectors.usage_totals(flt(org))["cost"] == 10  # the window the overlap closes
    refresh(seconds=120)
    assert selectors.usage_totals(flt(org))["cost"] == 15
    assert check()[0] == 0


@override_settings(USAGE_ROLLUP_OVERLAP_SECONDS=0)
def test_without_overlap_that_event_would_be_lost(org_keys):
    org, (prod, *_rest) = org_keys
    at = timezone.now() - timedelta(hours=3)
    ev(prod, at=at, cost=10)
    refresh()
    watermark = UsageRollupState.objects.get().watermark
    slow = ev(prod, at=at, cost=5)
    UsageEvent.objects.filter(pk=slow.pk).update(recorded_at=watermark - timedelta(seconds=30))
    refresh(seconds=120)
    assert selectors.usage_totals(flt(org))["cost"] == 10
    code, output = check()
    assert code == 1 and "MISMATCH" in output  # and usage_check says so


def test_usage_check_catches_a_tampered_rollup(org_keys):
    _org, keys = org_keys
    scatter(keys, random.Random(3), 40, timezone.now() - timedelta(days=3), timezone.now())
    refresh()
    assert check()[0] == 0
    row = UsageRollupModel.objects.order_by("pk").first()
    UsageRollupModel.objects.filter(pk=row.pk).update(cost_microcredits=row.cost_microcredits + 1)
    code, output = check()
    assert code == 1
    assert "MISMATCH UsageRollupModel raw" in output
    assert "MISMATCH UsageRollupModel rollup" in output
    assert "MISMATCH UsageRollupHourModel" not in output
    rollups.rollup_rebuild(start=timezone.now() - timedelta(days=4), end=timezone.now())
    assert check()[0] == 0
    UsageRollupHourModel.objects.filter(pk=UsageRollupHourModel.objects.first().pk).update(events=0)
    code, output = check()
    assert code == 1 and "MISMATCH UsageRollupHourModel raw" in output
    rollups.rollup_rebuild(start=timezone.now() - timedelta(days=4), end=timezone.now())
    assert check()[0] == 0
    UsageRollupKey.objects.order_by("pk").first().delete()  # a missing bucket
    code, output = check()
    assert code == 1 and "MISMATCH UsageRollupKey raw" in output
    assert "MISMATCH UsageRollup" not in output.replace("MISMATCH UsageRollupKey", "")


def test_dropped_raw_months_keep_their_totals(org_keys):
    org, keys = org_keys
    rng = random.Random(11)
    august = datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)
    scatter(keys, rng, 50, *august)
    scatter(keys, rng, 30, datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC))
    f = flt(org, start=datetime(2026, 7, 1, tzinfo=UTC), end=datetime(2026, 10, 1, tzinfo=UTC))
    before = answers(f)
    refresh()
    UsageEvent.objects.filter(occurred_at__gte=august[0], occurred_at__lt=august[1]).delete()
    after = answers(f)
    assert after == before
    assert after["totals"]["requests"] == 80


def test_prune_keeps_buckets_for_the_retention(org_keys):
    _org, (prod, *_rest) = org_keys
    now = timezone.now()
    ev(prod, at=now - timedelta(days=40))
    ev(prod, at=now - timedelta(days=10))
    refresh()
    with override_settings(USAGE_ROLLUP_RETENTION_DAYS=30):
        out = io.StringIO()
        call_command("usage_rollup", prune=True, stdout=out)
    assert "dropped" in out.getvalue()
    assert [r.hour.date() for r in UsageRollupKey.objects.all()] == [
        rollups.hour_floor(now - timedelta(days=10)).date()
    ]


def test_retention_outlives_ingestion_window():
    from django.conf import settings  # noqa: PLC0415 - the live settings object

    assert settings.USAGE_ROLLUP_RETENTION_DAYS * 86_400 > 90 * 86_400
    raw_days = getattr(settings, "USAGE_RETENTION_DAYS", None)
    if raw_days is not None:
        assert raw_days < settings.USAGE_ROLLUP_RETENTION_DAYS


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the advisory lock is PostgreSQL-only"
)
def test_a_second_worker_skips_while_the_lock_is_held(org_keys):
    _org, (prod, *_rest) = org_keys
    ev(prod)
    params = connection.get_connection_params()
    other = psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        **{k: v for k, v in params.items() if k in ("host", "port", "user", "password")},
        autocommit=True,
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [rollups.LOCK_KEY])
        assert refresh() == {"skipped": True}
        assert not UsageRollupKey.objects.exists()
        other.execute("SELECT pg_advisory_unlock(%s)", [rollups.LOCK_KEY])
        assert refresh()["buckets"] == 1
    finally:
        other.close()


def test_the_beat_task_is_scheduled():
    from django.conf import settings  # noqa: PLC0415 - the live settings object

    entry = settings.CELERY_BEAT_SCHEDULE["usage-rollup-refresh"]
    assert entry["task"] == "usage.tasks.rollup_refresh"
    assert entry["schedule"] == settings.USAGE_ROLLUP_INTERVAL_SECONDS


def test_the_beat_task_refreshes(org_keys):
    from usage.tasks import rollup_refresh  # noqa: PLC0415 - the task under test

    _org, (prod, *_rest) = org_keys
    ev(prod, at=timezone.now() - timedelta(minutes=90))
    UsageEvent.objects.update(recorded_at=timezone.now() - timedelta(minutes=1))  # settled
    result = rollup_refresh.apply().get()
    assert result["buckets"] == 1
    assert UsageRollupKey.objects.count() == 1


# --- reads: rollups + tail == raw --------------------------------------------------------


def test_rollups_plus_tail_equal_raw_over_random_data(org_keys, monkeypatch):
    """Seeded random events around the 2026 DST changes, rolled up in two rounds with a
    tail after each; every aggregate, for every zone and filter, equals the raw answer."""
    org, keys = org_keys
    rng = random.Random(20261129)
    spring = datetime(2026, 3, 5, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)
    autumn = datetime(2026, 10, 22, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC)
    scatter(keys, rng, 150, *spring)
    scatter(keys, rng, 100, *autumn)
    refresh()
    later = UsageRollupState.objects.get().watermark + timedelta(seconds=1)
    scatter(keys, rng, 40, *spring, recorded_at=later)  # the tail: after the watermark
    scatter(keys, rng, 40, *autumn, recorded_at=later)
    filters = [
        {},
        {"key": keys[0]},
        {"model": "gpt-5.5"},
        {"endpoint": "images"},
        {"status": "2xx"},
        {"status": "4xx"},
        {"status": "5xx"},
        {"key": keys[1], "model": "flux-pro", "status": "2xx"},
        {"key": keys[2], "endpoint": "messages"},
        {"status": "404"},  # raw only
        {"min_latency_ms": 100, "max_latency_ms": 5_000},  # raw only
    ]
    ranges = [
        (spring[0], spring[1]),
        (autumn[0] + timedelta(minutes=17, seconds=3), autumn[1] - timedelta(minutes=41)),
        (datetime(2026, 3, 8, 6, 30, tzinfo=UTC), datetime(2026, 3, 8, 7, 10, tzinfo=UTC)),
        (spring[0] - timedelta(days=1), autumn[1] + timedelta(days=1)),
    ]
    compared = 0
    for round_ in range(2):
        for zone in ZONES:
            for start, end in ranges:
                for fields in filters:
                    f = flt(org, zone, start, end, **fields)
                    got = answers(f)
                    assert got == raw_answers(f, monkeypatch), (round_, zone, start, fields)
                    assert got["overview"] == (got["totals"], got["by_model"], got["daily"])
                    compared += 1
        refresh(seconds=120)  # round 2: the former tail rolled up, no tail left
    assert compared == 2 * len(ZONES) * len(ranges) * len(filters)
    assert check(start="2026-03-01", end="2026-12-01")[0] == 0


def test_a_refresh_committing_during_a_read_retries_then_reads_raw(org_keys, monkeypatch):
    """The watermark is read before and after the statement: if it moved, the read is
    retried, and after three moves the raw events alone answer (always exact)."""
    org, keys = org_keys
    scatter(keys, random.Random(9), 30, timezone.now() - timedelta(days=3), timezone.now())
    refresh()
    f = flt(org)
    expected = raw_answers(f, monkeypatch)
    ticks = iter(range(1_000))
    reads = []

    def moving() -> datetime:
        reads.append(1)
        return rollups.EPOCH + timedelta(seconds=next(ticks))

    monkeypatch.setattr(selectors, "rollup_watermark", moving)
    assert answers(f) == expected
    assert len(reads) == 2 * selectors._ATTEMPTS * 5  # five aggregates, each tried 3 times


def test_half_hour_zone_days_split_an_hour_exactly(org_keys):
    """Kolkata's midnight is 18:30 UTC: an hour bucket holds two local days; the page reads
    those hours raw, so each event still lands on its own local day."""
    org, (prod, *_rest) = org_keys
    ev(prod, at=datetime(2026, 11, 10, 18, 20, tzinfo=UTC), cost=1)  # 23:50 on the 10th
    ev(prod, at=datetime(2026, 11, 10, 18, 40, tzinfo=UTC), cost=2)  # 00:10 on the 11th
    refresh()
    tz = ZoneInfo("Asia/Kolkata")
    f = flt(
        org, "Asia/Kolkata",
        datetime(2026, 11, 9, tzinfo=tz), datetime(2026, 11, 13, tzinfo=tz),
    )  # fmt: skip
    days = {d["date"].isoformat(): d["cost"] for d in selectors.usage_daily(f)}
    assert days == {"2026-11-09": 0, "2026-11-10": 1, "2026-11-11": 2, "2026-11-12": 0}


def test_the_api_answers_byte_for_byte_the_same_before_and_after_rolling_up(
    org_keys, client_for, user
):
    _org, keys = org_keys
    scatter(keys, random.Random(5), 80, timezone.now() - timedelta(days=20), timezone.now())
    client = client_for(user)
    urls = [
        "/api/api-usage?days=30&limit=1000",
        "/api/api-usage?days=7&status=5xx",
        f"/api/api-usage?days=30&model=gpt-5.5&key={keys[0].public_id}",
    ]
    before = [client.get(u).content for u in urls]
    page_before = client.get("/usage?days=30").content
    refresh()
    assert UsageRollupModel.objects.exists()
    assert [client.get(u).content for u in urls] == before
    assert stable(client.get("/usage?days=30").content) == stable(page_before)


def test_month_summary_and_filter_options_read_rollups(org_keys):
    org, (prod, batch, _test) = org_keys
    now = timezone.now()
    ev(prod, at=selectors.month_start(now) + timedelta(minutes=1), cost=40, model="veo-3")
    ev(batch, at=now - timedelta(seconds=1), cost=2, endpoint="messages")
    before = selectors.usage_month_summary(organization=org)
    options = selectors.usage_filter_options(organization=org)
    refresh()
    assert selectors.usage_month_summary(organization=org) == before
    assert before == {"requests": 2, "cost_microcredits": 42}
    assert selectors.usage_filter_options(organization=org) == options
    assert options["models"] == ["gpt-5.5", "veo-3"]
    assert options["endpoints"] == ["chat.completions", "messages"]
    watermark = UsageRollupState.objects.get().watermark
    ev(batch, model="sora-2", endpoint="videos", recorded_at=watermark + timedelta(seconds=1))
    ev(batch, model="kling", endpoint="videos", at=now - timedelta(days=367))  # too old
    refreshed = selectors.usage_filter_options(organization=org)
    assert refreshed["models"] == ["gpt-5.5", "sora-2", "veo-3"]  # from the tail
    assert refreshed["endpoints"] == ["chat.completions", "messages", "videos"]
    refresh(seconds=120)
    assert selectors.usage_filter_options(organization=org) == refreshed  # from the rollups


def test_another_tenants_rollups_never_count(org_keys, owner):
    org, (prod, *_rest) = org_keys
    other_org = personal(owner)
    other_key, _ = key_make(org=other_org, actor=owner, name="theirs")
    ev(prod, cost=5, at=timezone.now() - timedelta(hours=2))
    ev(other_key, cost=500, at=timezone.now() - timedelta(hours=2))
    refresh()
    assert selectors.usage_totals(flt(org))["cost"] == 5
    assert selectors.usage_totals(flt(other_org))["cost"] == 500


def test_retention_dropping_a_month_keeps_its_totals_from_the_rollups(org_keys, settings):
    """Retention removes a whole month of raw events (a partition drop on PostgreSQL, a
    delete on SQLite); the month's totals, by model and by key, still show from the rollups."""
    from usage import storage  # noqa: PLC0415 - only this test runs retention
    from usage.partitions import month_add  # noqa: PLC0415 - only this test runs retention

    org, keys = org_keys
    settings.USAGE_RETENTION_DAYS = 200
    now = datetime.now(UTC)
    expired = month_add(storage.retention_boundary(now), -2)
    scatter(keys, random.Random(5), 40, expired, month_add(expired, 1))
    scatter(keys, random.Random(6), 10, now - timedelta(days=2), now - timedelta(hours=1))
    f = flt(org, start=expired, end=now)
    before = answers(f)
    refresh()
    if connection.vendor == "postgresql":  # the test's rows leave deferred FK checks pending
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    dropped = storage.usage_retention_apply(now=now)
    assert expired.strftime("%Y-%m") in {d.month for d in dropped}
    assert not UsageEvent.objects.filter(occurred_at__lt=month_add(expired, 1)).exists()
    assert answers(f) == before
    assert before["totals"]["requests"] == 50
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT to_regclass(%s)", [f"usage_usageevent_y{expired:%Y}m{expired:%m}"]
            )
            assert cursor.fetchone()[0] is None  # the month's partition is gone
