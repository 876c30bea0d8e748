"""On PostgreSQL, audit events refuse UPDATE and DELETE.

The single exception: clearing ``actor_id`` when that user's account is deleted (the FK is
ON DELETE SET NULL), provided nothing else in the row changes. TRUNCATE is left alone: it
is not a code path of the application, and the test runner's flush between transactional
tests uses it.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION orgs_auditevent_append_only() RETURNS trigger AS $$
DECLARE
    unchanged orgs_auditevent;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL THEN
        unchanged := NEW;
        unchanged.actor_id := OLD.actor_id;
        IF unchanged IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'orgs_auditevent is append-only: %% refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER orgs_auditevent_append_only
    BEFORE UPDATE OR DELETE ON orgs_auditevent
    FOR EACH ROW EXECUTE FUNCTION orgs_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS orgs_auditevent_append_only ON orgs_auditevent;
DROP FUNCTION IF EXISTS orgs_auditevent_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("orgs", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
