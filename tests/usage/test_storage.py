"""Usage storage: monthly partitions on PostgreSQL, months created ahead and on demand,
retention by whole months, pruning of the de-duplication table, de-duplication across
months. PostgreSQL-only tests skip on SQLite (it has no partitions: one plain table)."""

import importlib
from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orgs.models import AuditEvent
from tests.apikeys.factories import event, fund, key_make, personal
from tests.usage.analytics import ev
from usage import partitions, storage
from usage import tasks as usage_tasks
from usage.ingest import usage_ingest
from usage.models import UsageEvent, UsageRequest
from usage.partitions import month_add, month_floor, partition_name

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="monthly partitions exist only on PostgreSQL (SQLite keeps one plain table)",
)


@pytest.fixture
def key(owner):
    org = personal(owner)
    fund(org, 10_000)
    key, _ = key_make(org=org, actor=owner)
    return key


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def table_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [name])
        return cursor.fetchone()[0] is not None


def check_deferred_constraints() -> None:
    """Rows written in the test's transaction leave their deferred foreign-key checks
    pending, and PostgreSQL drops no table with pending checks: run them now (in production
    retention and the migration run in transactions of their own)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def partition_of(request_id: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM usage_usageevent WHERE request_id = %s",
            [request_id],
        )
        return cursor.fetchone()[0]


# --- the layout ------------------------------------------------------------------------


@postgres_only
def test_the_table_is_range_partitioned_with_a_composite_key_brin_and_no_default():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT partstrat, partdefid FROM pg_partitioned_table "
            "WHERE partrelid = 'usage_usageevent'::regclass"
        )
        assert cursor.fetchone() == ("r", 0)  # range, no DEFAULT partition
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = 'usage_usageevent'::regclass AND i.indisprimary"
        )
        assert {row[0] for row in cursor.fetchall()} == {"id", "occurred_at"}
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'usage_usageevent'"
        )
        indexes = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*) FROM pg_constraint "
            "WHERE conrelid = 'usage_usageevent'::regclass AND contype = 'f'"
        )
        assert cursor.fetchone()[0] == 0  # organization and key are checked by ingestion
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'usage_usagerequest'")
        request_indexes = [row[0] for row in cursor.fetchall()]
    assert "USING brin (occurred_at)" in indexes["usage_event_time_brin"]
    # The de-duplication table: its primary key and the pruning's index, no LIKE index.
    assert len(request_indexes) == 2
    assert not any("pattern_ops" in d for d in request_indexes)
    assert "(organization_id, occurred_at, id)" in indexes["usage_event_org_time"]
    assert "(key_id, occurred_at, id)" in indexes["usage_event_key_time"]
    assert "(organization_id, request_id)" in indexes["usage_event_org_request"]
    months = [p.start for p in partitions.partitions_list()]
    this_month = month_floor(datetime.now(UTC))
    assert this_month in months and month_add(this_month, 3) in months
    assert all(p.end == month_add(p.start, 1) for p in partitions.partitions_list())


@postgres_only
def test_a_row_goes_to_its_months_partition_and_a_month_without_one_is_refused(key):
    old = datetime(2026, 9, 15, 12, tzinfo=UTC)
    ev(key, at=old, request_id="in-september")
    assert partition_of("in-september") == "usage_usageevent_y2026m09"
    with pytest.raises(Exception, match="no partition"):  # no DEFAULT partition catches it
        ev(key, at=datetime(2040, 1, 1, tzinfo=UTC))


@postgres_only
def test_ensure_creates_the_months_once_and_rows_land_there(key):
    start, end = datetime(2031, 1, 10, tzinfo=UTC), datetime(2031, 3, 2, tzinfo=UTC)
    created = partitions.usage_partitions_ensure(start=start, end=end)
    assert created == [f"usage_usageevent_y2031m0{m}" for m in (1, 2, 3)]
    assert partitions.usage_partitions_ensure(start=start, end=end) == []  # idempotent
    ev(key, at=datetime(2031, 2, 28, 23, 59, 59, tzinfo=UTC), request_id="late-feb")
    assert partition_of("late-feb") == "usage_usageevent_y2031m02"
    # The partition has the parent's indexes and, like the parent, no foreign key.
    with connection.cursor() as cursor:
        count = "SELECT count(*) FROM pg_indexes WHERE tablename = %s"
        cursor.execute(count, ["usage_usageevent"])
        on_parent = cursor.fetchone()[0]
        cursor.execute(count, ["usage_usageevent_y2031m02"])
        assert cursor.fetchone()[0] == on_parent >= 5  # the primary key and the model's
        cursor.execute(
            "SELECT count(*) FROM pg_constraint "
            "WHERE conrelid = 'usage_usageevent_y2031m02'::regclass AND contype = 'f'"
        )
        assert cursor.fetchone()[0] == 0


def test_the_daily_task_covers_ingestions_window_and_the_months_ahead(settings):
    settings.USAGE_PARTITIONS_AHEAD_MONTHS = 3
    now = datetime.now(UTC)
    storage.usage_partitions_ensure_ahead(now=now)
    if connection.vendor != "postgresql":
        assert partitions.partitions_list() == []  # nothing to do on SQLite
        return
    months = {p.start for p in partitions.partitions_list()}
    month = month_floor(now - timedelta(days=91))
    while month <= month_add(month_floor(now), 3):
        assert month in months
        month = month_add(month, 1)


@postgres_only
def test_ingestion_creates_a_missing_month_on_demand(key, internal):
    """The beat did not run: the month of a 60-day-old event has no partition. The event is
    stored all the same (the month is created), not refused and never a 500."""
    at = datetime.now(UTC) - timedelta(days=60)
    month = month_floor(at)
    (partition,) = [p for p in partitions.partitions_list() if p.start == month]
    partitions.partition_detach(partition)
    partitions.partition_drop(partition)
    assert not table_exists(partition_name(month))

    body = event(key, occurred_at=iso(at))
    response = internal.post("/internal/v1/usage", {"events": [body]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1
    assert partition_of(body["request_id"]) == partition_name(month)


# --- de-duplication across months --------------------------------------------------------


def test_a_replayed_batch_spanning_two_months_is_stored_once(key, internal):
    now = datetime.now(UTC)
    batch = [
        event(key, occurred_at=iso(now - timedelta(days=40))),
        event(key, occurred_at=iso(now - timedelta(minutes=5))),
    ]
    assert month_floor(now - timedelta(days=40)) != month_floor(now)
    first = internal.post("/internal/v1/usage", {"events": batch}, format="json").json()
    again = internal.post("/internal/v1/usage", {"events": batch}, format="json").json()
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert (again["accepted"], again["duplicates"], again["charged_microcredits"]) == (0, 2, 0)
    ids = [e["request_id"] for e in batch]
    assert UsageEvent.objects.filter(request_id__in=ids).count() == 2
    if connection.vendor == "postgresql":
        assert len({partition_of(i) for i in ids}) == 2


# --- retention -----------------------------------------------------------------------------


def retention_fixture(key, settings):
    """Retention of 200 days; events in the month 9 months ago (past it), the month 8 months
    ago that is partly inside (kept whole) and this month."""
    settings.USAGE_RETENTION_DAYS = 200
    now = datetime.now(UTC)
    boundary = storage.retention_boundary(now)
    expired = month_add(boundary, -2)
    partial = boundary  # starts at the boundary, so it ends after it: kept
    for i in range(3):
        ev(key, at=expired + timedelta(days=3, hours=i), request_id=f"old-{i}")
    ev(key, at=partial + timedelta(hours=1), request_id="partial")
    ev(key, at=now, request_id="recent")
    check_deferred_constraints()
    return now, expired


def test_retention_deletes_whole_months_past_the_limit_and_audits_it(key, settings):
    now, expired = retention_fixture(key, settings)
    dropped = storage.usage_retention_apply(now=now)
    assert {d.month: d.rows for d in dropped}[expired.strftime("%Y-%m")] == 3
    assert set(UsageEvent.objects.values_list("request_id", flat=True)) == {"partial", "recent"}
    audit = AuditEvent.objects.get(action="usage.expired", after__month=expired.strftime("%Y-%m"))
    assert audit.organization is None and audit.after["rows"] == 3
    assert audit.after["retention_days"] == 200
    assert storage.usage_retention_apply(now=now) == []  # nothing left to drop


@postgres_only
def test_retention_on_postgres_drops_the_partition_and_deletes_no_row(key, settings):
    now, expired = retention_fixture(key, settings)
    boundary = storage.retention_boundary(now)
    kept = [p.name for p in partitions.partitions_list() if p.end > boundary]
    assert table_exists(partition_name(expired))
    with CaptureQueriesContext(connection) as queries:
        storage.usage_retention_apply(now=now)
    statements = [q["sql"].upper() for q in queries.captured_queries]
    assert not any(s.startswith("DELETE") for s in statements), statements
    assert any(s.startswith("ALTER TABLE USAGE_USAGEEVENT DETACH PARTITION") for s in statements)
    assert not table_exists(partition_name(expired))  # the month's table is gone
    assert [p.name for p in partitions.partitions_list() if p.end <= boundary] == []
    assert [p.name for p in partitions.partitions_list()] == kept  # newer months untouched
    assert UsageEvent.objects.filter(request_id__in=["partial", "recent"]).count() == 2


@postgres_only
def test_retention_finishes_a_month_left_detached(settings):
    """A run interrupted between its detach and its drop left the table behind: the next
    run drops it (and audits it) like any expired month."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE usage_usageevent_y2019m01 (LIKE usage_usageevent)")
    (left,) = [p for p in partitions.partitions_list() if p.name == "usage_usageevent_y2019m01"]
    assert not left.attached
    dropped = storage.usage_retention_apply()
    assert "2019-01" in {d.month for d in dropped}
    assert not table_exists("usage_usageevent_y2019m01")


def test_retention_shorter_than_ingestions_window_is_refused(settings):
    settings.USAGE_RETENTION_DAYS = 60
    with pytest.raises(ImproperlyConfigured, match="USAGE_RETENTION_DAYS"):
        storage.usage_retention_apply()


# --- pruning of the de-duplication table --------------------------------------------------


def test_pruned_request_ids_are_still_refused_by_age(key):
    """Ids accepted 92 days ago are pruned; their replays are refused as too old (even the
    one stamped at the most future time ingestion allowed then), never stored twice."""
    accepted_then = datetime.now(UTC) - timedelta(days=92)
    old = [
        event(key, occurred_at=iso(accepted_then - timedelta(hours=1))),
        event(key, occurred_at=iso(accepted_then + timedelta(seconds=299))),  # future skew
    ]
    with mock.patch("django.utils.timezone.now", return_value=accepted_then):
        assert usage_ingest(events=old)["accepted"] == 2
    recent = [event(key)]
    assert usage_ingest(events=recent)["accepted"] == 1

    assert storage.usage_requests_prune(batch=1) == 2  # one at a time, to the end
    remaining = set(UsageRequest.objects.values_list("request_id", flat=True))
    assert remaining == {recent[0]["request_id"]}

    replay = usage_ingest(events=old + recent)
    assert replay["accepted"] == 0 and replay["duplicates"] == 1
    assert [r["error"]["type"] for r in replay["rejected"]] == ["occurred_at_too_old"] * 2
    for body in old + recent:
        assert UsageEvent.objects.filter(request_id=body["request_id"]).count() == 1


def test_pruning_keeps_ids_that_could_still_be_replayed(key):
    """Accepted a minute less than 91 days ago: within the day of margin beyond ingestion's
    90 days (and the future skew), so its id is kept."""
    accepted_then = datetime.now(UTC) - timedelta(days=91) + timedelta(minutes=1)
    with mock.patch("django.utils.timezone.now", return_value=accepted_then):
        body = event(key, occurred_at=iso(accepted_then + timedelta(seconds=299)))
        assert usage_ingest(events=[body])["accepted"] == 1
    assert storage.usage_requests_prune() == 0
    assert UsageRequest.objects.count() == 1


def test_the_beat_tasks_are_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "usage.tasks.ensure_usage_partitions",
        "usage.tasks.apply_usage_retention",
        "usage.tasks.prune_usage_requests",
    } <= tasks
    assert usage_tasks.prune_usage_requests.apply().get() == 0
    # Nothing but empty months (the test database's oldest) is past 400 days.
    dropped = usage_tasks.apply_usage_retention.apply().get()
    assert all(d["rows"] == 0 for d in dropped)
    assert isinstance(usage_tasks.ensure_usage_partitions.apply().get(), list)


# --- the migration ------------------------------------------------------------------------


@postgres_only
def test_the_migration_copies_rows_keeps_ids_and_foreign_keys(key):
    """Back to a plain table and forward again (in the test's transaction): every row is
    kept with its id, the ids carry on from where they stood, months with rows get their
    partition, the foreign keys are there again."""
    migration = importlib.import_module("usage.migrations.0002_partition_usage_events")
    rows = [ev(key, at=datetime(2026, 10, 3, tzinfo=UTC)), ev(key)]
    check_deferred_constraints()
    foreign_keys = (
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'usage_usageevent'::regclass AND contype = 'f' ORDER BY conname"
    )
    with connection.cursor() as cursor:
        # Migration 0004 dropped the two constraints; put them back as 0002 found them.
        cursor.execute(
            "ALTER TABLE usage_usageevent ADD CONSTRAINT usage_event_org_fk FOREIGN KEY "
            "(organization_id) REFERENCES orgs_organization (id) DEFERRABLE INITIALLY DEFERRED, "
            "ADD CONSTRAINT usage_event_key_fk FOREIGN KEY (key_id) REFERENCES apikeys_apikey "
            "(id) DEFERRABLE INITIALLY DEFERRED"
        )
        cursor.execute(foreign_keys)
        before = cursor.fetchall()
        migration._swap(cursor, partitioned=False)
        cursor.execute(
            "INSERT INTO usage_usageevent (request_id, occurred_at, organization_id, key_id, "
            "endpoint, model, provider, status_code, latency_ms, input_tokens, output_tokens, "
            "images, seconds, clips, requests, cost_microcredits, hold_public_id, recorded_at) "
            "VALUES ('ancient', '2019-05-05T00:00:00Z', %s, %s, 'chat.completions', 'm', '', "
            "200, 0, 0, 0, 0, 0, 0, 0, 0, '', now()) RETURNING id",
            [key.organization_id, key.pk],
        )
        (ancient_id,) = cursor.fetchone()
        migration._swap(cursor, partitioned=True)
    assert partition_of("ancient") == "usage_usageevent_y2019m05"
    assert UsageEvent.objects.get(request_id="ancient").pk == ancient_id
    for row in rows:
        assert UsageEvent.objects.get(pk=row.pk).request_id == row.request_id
    newer = ev(key)
    assert newer.pk > ancient_id > max(r.pk for r in rows)
    with connection.cursor() as cursor:
        cursor.execute(foreign_keys)
        assert cursor.fetchall() == before and len(before) == 2


def test_the_command_lists_the_partitions():
    out = StringIO()
    call_command("usage_partitions", "--ensure", stdout=out)
    if connection.vendor == "postgresql":
        assert partition_name(month_floor(datetime.now(UTC))) in out.getvalue()
    else:
        assert "not partitioned" in out.getvalue()


@pytest.fixture
def restore_partitions():
    """A transactional test really drops partitions: give the rest of the session its
    months back afterwards (as the session's set-up made them)."""
    yield
    now = datetime.now(UTC)
    partitions.usage_partitions_ensure(
        start=month_add(month_floor(now), -14), end=month_add(now, 6)
    )


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_retention_outside_a_transaction_detaches_concurrently(key, settings, restore_partitions):
    """As the beat task runs it (autocommit): ``DETACH PARTITION … CONCURRENTLY``, then the
    count, the drop and the audit event in one transaction."""
    now, expired = retention_fixture(key, settings)
    with CaptureQueriesContext(connection) as queries:
        dropped = storage.usage_retention_apply(now=now)
    assert {d.month: d.rows for d in dropped}[expired.strftime("%Y-%m")] == 3
    detach = [q["sql"] for q in queries.captured_queries if "DETACH PARTITION" in q["sql"]]
    assert detach and all(sql.endswith(" CONCURRENTLY") for sql in detach)
    assert not table_exists(partition_name(expired))
    assert set(UsageEvent.objects.values_list("request_id", flat=True)) == {"partial", "recent"}
    assert AuditEvent.objects.filter(action="usage.expired").count() == len(dropped)
