import logging

from django.core.management.base import BaseCommand, CommandError

from apikeys import reservations


class Command(BaseCommand):
    help = (
        "Compare the reservation counters (Redis) with PostgreSQL: each key's month spend, "
        "each wallet's balance − held, each reserved counter against its live reservations, "
        "orphan reservation records, settlements the store refused after commit. "
        "Exits non-zero on drift; --fix repairs it (the beat task does the same)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--fix", action="store_true", help="Repair what drifted.")

    def handle(self, *args, fix: bool = False, **options) -> None:
        try:
            drift = reservations.reconcile(fix=fix)
        except reservations.Unavailable as exc:
            raise CommandError(f"The reservation store does not answer: {exc}") from None
        for line in drift:
            self.stdout.write(line)
        if drift:
            logging.getLogger("hypereal.apikeys").warning("reservation counters drifted: %s", drift)
            raise CommandError(f"{len(drift)} counter(s) drifted" + (" (fixed)" if fix else ""))
        self.stdout.write("Reservation counters match PostgreSQL.")
