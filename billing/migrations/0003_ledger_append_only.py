"""On PostgreSQL, ledger entries refuse UPDATE and DELETE (see hypereal_site.dbtriggers)."""

from django.db import migrations

from hypereal_site.dbtriggers import append_only


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_seed_catalog")]

    operations = [append_only("billing_ledgerentry")]
