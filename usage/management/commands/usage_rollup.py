"""``usage_rollup``: move the rollups' watermark now (what the beat task does), or
``--rebuild --from … --to …``: recompute every bucket of a range from the raw events."""

from datetime import UTC, date, datetime, time

from django.core.management.base import BaseCommand, CommandError

from usage import rollups


def parse_instant(text: str) -> datetime:
    """A date (its UTC midnight) or an ISO 8601 time (naive means UTC)."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.min, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Refresh the usage rollups, or rebuild those of a range from the raw events."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rebuild", action="store_true")
        parser.add_argument("--from", dest="start", help="date or ISO time (UTC)")
        parser.add_argument("--to", dest="end", help="date or ISO time (UTC), exclusive")
        parser.add_argument("--prune", action="store_true", help="drop expired buckets too")

    def handle(self, *args, rebuild: bool, start, end, prune: bool, **options) -> None:
        if rebuild:
            if not start or not end:
                raise CommandError("--rebuild needs --from and --to.")
            low, high = parse_instant(start), parse_instant(end)
            if low >= high:
                raise CommandError("--from must be before --to.")
            result = rollups.rollup_rebuild(start=low, end=high)
            self.stdout.write(
                f"rebuilt {result['start']:%Y-%m-%d %H:%M} to {result['end']:%Y-%m-%d %H:%M} "
                f"UTC at watermark {result['watermark'].isoformat()}"
            )
        elif start or end:
            raise CommandError("--from/--to go with --rebuild.")
        else:
            result = rollups.rollup_refresh()
            if result["skipped"]:
                self.stdout.write("another worker holds the rollup lock; nothing done")
            else:
                self.stdout.write(
                    f"watermark {result['watermark'].isoformat()}, "
                    f"{result['buckets']} bucket(s) recomputed"
                )
        if prune:
            self.stdout.write(f"{rollups.rollup_prune()} expired rollup row(s) dropped")
