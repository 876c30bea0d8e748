"""On PostgreSQL, audit events refuse UPDATE and DELETE (see hypereal_site.dbtriggers)."""

from django.db import migrations

from hypereal_site.dbtriggers import append_only


class Migration(migrations.Migration):
    dependencies = [("orgs", "0001_initial")]

    operations = [append_only("orgs_auditevent")]
