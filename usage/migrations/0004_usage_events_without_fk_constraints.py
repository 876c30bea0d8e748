"""Ingestion's cost per event, in the database.

* ``usage_usageevent`` keeps its ``organization`` and ``key`` columns but loses their
  foreign-key constraints (see ``UsageEvent``): each ingested event paid two deferred
  checks at commit, each locking its parent row.
* ``usage_usagerequest`` loses the ``varchar_pattern_ops`` index Django adds beside a
  character primary key on PostgreSQL, for ``LIKE 'prefix%'``: no query of ours asks
  that, and it was a third index updated for every event.
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "usage_usagerequest"


def _pattern_indexes(cursor) -> list[str]:
    cursor.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = %s AND indexdef LIKE %s",
        [TABLE, "%pattern_ops%"],
    )
    return [name for (name,) in cursor.fetchall()]


def drop_pattern_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in _pattern_indexes(cursor):
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create_pattern_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        if _pattern_indexes(cursor):
            return
    schema_editor.execute(
        f'CREATE INDEX "{TABLE}_request_id_dd2f83c8_like" '
        f'ON "{TABLE}" ("request_id" varchar_pattern_ops)'
    )


class Migration(migrations.Migration):

    dependencies = [
        ("apikeys", "0006_admin_verbose_names"),
        ("orgs", "0005_admin_verbose_names"),
        ("usage", "0003_usage_rollups"),
    ]

    operations = [
        migrations.AlterField(
            model_name="usageevent",
            name="key",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="usage_events",
                to="apikeys.apikey",
            ),
        ),
        migrations.AlterField(
            model_name="usageevent",
            name="organization",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="orgs.organization",
            ),
        ),
        migrations.RunPython(drop_pattern_index, create_pattern_index, elidable=False),
    ]
