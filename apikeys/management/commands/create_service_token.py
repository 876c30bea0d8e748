from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apikeys.services import service_token_create


class Command(BaseCommand):
    help = "Create a svc_ token for the inference plane; prints it once (only its hash is kept)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="The service that will use it, e.g. gateway-eu")

    def handle(self, *args, name: str, **options) -> None:
        try:
            token, plaintext = service_token_create(name=name)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(plaintext)
        self.stderr.write(
            f"Service token {token.name!r} created. Store it now: it is not shown again."
        )
