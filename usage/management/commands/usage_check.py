"""``usage_check``: prove the rollups equal the raw events for every bucket of a range.

Exits 1 and prints the differing buckets (as the raw rows compute them, and as stored)
when any differs. Only ranges whose raw rows are kept can be checked: a month whose raw
partition was dropped lives on in the rollups alone.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from usage import rollups

from .usage_rollup import parse_instant


class Command(BaseCommand):
    help = "Compare every rollup bucket of a range with the raw events; exit 1 on a mismatch."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--from", dest="start", help="date or ISO time, UTC (default: 90 days ago)"
        )
        parser.add_argument("--to", dest="end", help="date or ISO time, UTC (default: now)")
        parser.add_argument("--limit", type=int, default=50, help="mismatches shown per shape")

    def handle(self, *args, start, end, limit: int, **options) -> None:
        high = parse_instant(end) if end else timezone.now()
        low = parse_instant(start) if start else high - timedelta(days=90)
        if low >= high:
            raise CommandError("--from must be before --to.")
        mismatches = rollups.rollup_check(start=low, end=high, limit=limit)
        for m in mismatches:
            self.stdout.write(f"MISMATCH {m.shape} {m.side}: {m.row}")
        if mismatches:
            self.stderr.write(f"{len(mismatches)} bucket row(s) differ from the raw events")
            raise SystemExit(1)
        self.stdout.write(
            f"rollups match the raw events from {rollups.hour_floor(low):%Y-%m-%d %H:%M} "
            f"to {rollups.hour_ceil(high):%Y-%m-%d %H:%M} UTC "
            f"(watermark {rollups.rollup_watermark().isoformat()})"
        )
