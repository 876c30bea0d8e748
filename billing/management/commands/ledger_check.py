from django.core.management.base import BaseCommand, CommandError

from billing.models import Wallet
from billing.selectors import ledger_mismatches


class Command(BaseCommand):
    help = (
        "Verify every wallet: balance == sum of its ledger entries, held == sum of its open "
        "holds, running balances chain. Exits non-zero on any mismatch."
    )

    def handle(self, *args, **options) -> None:
        problems = ledger_mismatches()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} ledger mismatch(es) found.")
        self.stdout.write(
            self.style.SUCCESS(f"Ledger consistent: {Wallet.objects.count()} wallets.")
        )
