"""Audit events get opaque public ids, like every other object the console shows.

Existing rows are given one here. On PostgreSQL the table refuses UPDATE (see
hypereal_site.dbtriggers), so the trigger is disabled for the backfill and enabled again,
all inside this migration's transaction: nobody else ever sees the table without it.
"""

from django.db import migrations, models

import hypereal_site.ids

TRIGGER = "orgs_auditevent_append_only"
BATCH = 2000


def backfill(apps, schema_editor):
    AuditEvent = apps.get_model("orgs", "AuditEvent")
    postgresql = schema_editor.connection.vendor == "postgresql"
    if postgresql:
        schema_editor.execute(f"ALTER TABLE orgs_auditevent DISABLE TRIGGER {TRIGGER}")
    pending = []
    for event in AuditEvent.objects.filter(public_id__isnull=True).only("id").iterator(BATCH):
        event.public_id = hypereal_site.ids.new_public_id()
        pending.append(event)
        if len(pending) == BATCH:
            AuditEvent.objects.bulk_update(pending, ["public_id"])
            pending = []
    AuditEvent.objects.bulk_update(pending, ["public_id"])
    if postgresql:
        schema_editor.execute(f"ALTER TABLE orgs_auditevent ENABLE TRIGGER {TRIGGER}")


class Migration(migrations.Migration):
    dependencies = [("orgs", "0003_org_default_key_limit")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="public_id",
            field=models.CharField(editable=False, max_length=16, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="auditevent",
            name="public_id",
            field=models.CharField(
                default=hypereal_site.ids.new_public_id,
                editable=False,
                max_length=16,
                unique=True,
            ),
        ),
    ]
