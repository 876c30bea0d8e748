"""Append-only tables on PostgreSQL: a trigger that refuses UPDATE and DELETE.

The one change let through is nulling ``actor_id`` when that person's account is deleted
(the foreign key is ON DELETE SET NULL), provided nothing else in the row changes.
TRUNCATE is left alone: no code path uses it, and the test runner's flush does.
"""

from django.db import migrations


def _create_sql(table: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$
DECLARE
    unchanged {table};
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL THEN
        unchanged := NEW;
        unchanged.actor_id := OLD.actor_id;
        IF unchanged IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION '{table} is append-only: %% refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER {table}_append_only
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {table}_append_only();
"""


def _drop_sql(table: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS {table}_append_only ON {table};
DROP FUNCTION IF EXISTS {table}_append_only();
"""


def append_only(table: str) -> migrations.RunPython:
    """A migration operation installing the trigger on ``table`` (PostgreSQL only; other
    databases keep the rule by having no code path that edits the table)."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(_create_sql(table))

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(_drop_sql(table))

    return migrations.RunPython(forwards, backwards)
