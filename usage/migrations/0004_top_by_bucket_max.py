"""Cheaper ingestion: three btree indexes of the events table out, the top-10 through the
rollups.

* ``usage_event_recorded`` (btree on ``recorded_at``) becomes ``usage_event_recorded_brin``:
  ``recorded_at`` is the time of writing, so rows arrive in its order and a BRIN index
  (one summary per range of pages) finds the raw tail after the watermark for next to
  nothing per insert. SQLite has no BRIN: a btree there.
* ``usage_event_org_cost`` and ``usage_event_org_model_cost`` are dropped: every rollup
  bucket now keeps ``max_cost_microcredits`` (its most expensive event), which bounds what a
  bucket can hold, and ``selectors.usage_top_expensive`` reads only the buckets that can
  hold one of the 10 most expensive requests.
* The new column is filled for the buckets that exist, from the raw events recorded before
  the watermark (what each bucket holds), so ``usage_check`` stays clean. It reads every
  event once per shape: minutes on a table of tens of millions of rows, during which
  ingestion waits (the index changes lock the table); ship it in a quiet moment.

On PostgreSQL the index changes run on the partitioned parent, which applies them to every
partition (``DROP INDEX … IF EXISTS``: a database where they were dropped by hand migrates
too).
"""

from django.contrib.postgres.indexes import BrinIndex
from django.db import migrations, models

TABLE = "usage_usageevent"
DROPPED = {
    "usage_event_recorded": "(recorded_at)",
    "usage_event_org_cost": "(organization_id, cost_microcredits, occurred_at)",
    "usage_event_org_model_cost": "(organization_id, model, cost_microcredits, occurred_at)",
}
STATUS_CLASS_SQL = (
    "CASE WHEN status_code BETWEEN 200 AND 299 THEN '2xx' "
    "WHEN status_code BETWEEN 400 AND 499 THEN '4xx' "
    "WHEN status_code BETWEEN 500 AND 599 THEN '5xx' ELSE 'other' END"
)
#: Each rollup table and its bucket's columns besides organization and hour.
SHAPES = {
    "usage_usagerolluphourmodel": ("model",),
    "usage_usagerollupmodel": ("model", "endpoint", "status_class"),
    "usage_usagerollupkey": ("key_id", "status_class"),
    "usage_usagerollup": ("key_id", "model", "endpoint", "status_class"),
}


def indexes_forwards(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    with schema_editor.connection.cursor() as cursor:
        for name in DROPPED:
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        using = "USING brin " if postgres else ""
        cursor.execute(f"CREATE INDEX usage_event_recorded_brin ON {TABLE} {using}(recorded_at)")


def indexes_backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP INDEX IF EXISTS usage_event_recorded_brin")
        for name, columns in DROPPED.items():
            cursor.execute(f"CREATE INDEX {name} ON {TABLE} {columns}")


def fill_max_cost(apps, schema_editor):
    """Each existing bucket's most expensive event recorded before the watermark."""
    connection = schema_editor.connection
    State = apps.get_model("usage", "UsageRollupState")
    state = State.objects.filter(pk=1).first()
    if state is None:
        return  # no refresh ever ran: no bucket exists
    watermark = connection.ops.adapt_datetimefield_value(state.watermark)
    if connection.vendor == "postgresql":
        hour = "date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    else:
        hour = "strftime('%%Y-%%m-%%d %%H:00:00', occurred_at)"
    with connection.cursor() as cursor:
        for table, dims in SHAPES.items():
            select = ", ".join(
                STATUS_CLASS_SQL + " AS status_class" if d == "status_class" else d for d in dims
            )
            groups = ", ".join(STATUS_CLASS_SQL if d == "status_class" else d for d in dims)
            match = " AND ".join(f"{table}.{d} = m.{d}" for d in dims)
            cursor.execute(
                f"UPDATE {table} SET max_cost_microcredits = m.top FROM ("  # noqa: S608 - names only
                f"SELECT organization_id, {hour} AS hour, {select}, MAX(cost_microcredits) AS top "
                f"FROM {TABLE} WHERE recorded_at < %s "
                f"GROUP BY organization_id, {hour}, {groups}) m "
                f"WHERE {table}.organization_id = m.organization_id AND {table}.hour = m.hour "
                f"AND {match}",
                [watermark],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("apikeys", "0004_pending_settlement"),
        ("orgs", "0004_auditevent_public_id"),
        ("usage", "0003_usage_rollups"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="usageevent", name="usage_event_recorded"),
                migrations.RemoveIndex(model_name="usageevent", name="usage_event_org_cost"),
                migrations.RemoveIndex(
                    model_name="usageevent", name="usage_event_org_model_cost"
                ),
                migrations.AddIndex(
                    model_name="usageevent",
                    index=BrinIndex(fields=["recorded_at"], name="usage_event_recorded_brin"),
                ),
            ],
            database_operations=[
                migrations.RunPython(indexes_forwards, indexes_backwards, elidable=False)
            ],
        ),
        migrations.AddField(
            model_name="usagerollup",
            name="max_cost_microcredits",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="usagerolluphourmodel",
            name="max_cost_microcredits",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="usagerollupkey",
            name="max_cost_microcredits",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="usagerollupmodel",
            name="max_cost_microcredits",
            field=models.BigIntegerField(default=0),
        ),
        migrations.RunPython(fill_max_cost, migrations.RunPython.noop),
    ]
