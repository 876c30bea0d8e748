"""``manage.py usage_partitions``: list the monthly partitions of usage events; with
``--ensure`` first create those of ingestion's window and the months ahead (what the daily
beat task does); with ``--retention`` apply ``USAGE_RETENTION_DAYS`` (the other daily task)."""

from django.core.management.base import BaseCommand

from usage import storage
from usage.partitions import is_partitioned, partitions_list


class Command(BaseCommand):
    help = "List (and with --ensure create) the monthly partitions of usage events."

    def add_arguments(self, parser):
        parser.add_argument("--ensure", action="store_true", help="create the months needed")
        parser.add_argument("--retention", action="store_true", help="drop expired months")

    def handle(self, *args, ensure: bool, retention: bool, **options):
        if ensure:
            for name in storage.usage_partitions_ensure_ahead():
                self.stdout.write(f"created {name}")
        if retention:
            for dropped in storage.usage_retention_apply():
                self.stdout.write(f"dropped {dropped.month} ({dropped.rows} rows)")
        if not is_partitioned():
            self.stdout.write("usage_usageevent is not partitioned (not PostgreSQL).")
            return
        for p in partitions_list():
            state = "" if p.attached else "  (detached)"
            self.stdout.write(f"{p.name}  {p.start:%Y-%m-%d} – {p.end:%Y-%m-%d}{state}")
