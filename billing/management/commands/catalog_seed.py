from django.core.management.base import BaseCommand

from billing.catalog_seed import seed


class Command(BaseCommand):
    help = "Add any model, alias, fallback chain or intent of the reference that is missing."

    def handle(self, *args, **options) -> None:
        added = seed()
        self.stdout.write(self.style.SUCCESS(f"Catalog seeded: {added} model(s) added."))
