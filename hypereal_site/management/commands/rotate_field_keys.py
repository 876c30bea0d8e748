"""Re-encrypt every encrypted column with the first of FIELD_ENCRYPTION_KEYS.

Key rotation (docs/sso.md, "Secrets and key rotation"): put the new key first in
FIELD_ENCRYPTION_KEYS, keep the old ones after it, deploy, run this command, then remove the
old keys. Every ``EncryptedTextField`` of every model is found by its type. Rows are
re-encrypted one at a time under a row lock, so a concurrent save is never overwritten with
an older value. A value no configured key decrypts stops the command (nothing is lost: the
rows already done are valid under the new key, the rest under the old ones).
"""

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from hypereal_site import crypto


def encrypted_fields() -> list[tuple[type, str]]:
    return [
        (model, field.attname)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, crypto.EncryptedTextField)
    ]


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field with the first key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would change; write nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        total = rotated = 0
        for model, attname in encrypted_fields():
            label = f"{model._meta.label}.{attname}"
            pks = list(model._default_manager.exclude(**{attname: ""}).values_list("pk", flat=True))
            done = 0
            for pk in pks:
                with transaction.atomic():
                    row = (
                        model._default_manager.select_for_update()
                        .filter(pk=pk)
                        .values_list(attname, flat=True)
                        .first()
                    )
                    if not row:
                        continue
                    total += 1
                    if crypto.is_current(row):
                        continue
                    try:
                        new = crypto.rotate(row)
                    except crypto.DecryptionError:
                        raise CommandError(
                            f"{label} of row {pk} cannot be decrypted with any key in "
                            "FIELD_ENCRYPTION_KEYS; add the key it was written with."
                        ) from None
                    if not dry_run:
                        model._default_manager.filter(pk=pk).update(**{attname: new})
                    done += 1
            rotated += done
            self.stdout.write(f"{label}: {done} of {len(pks)} re-encrypted")
        verb = "would be re-encrypted" if dry_run else "re-encrypted"
        self.stdout.write(f"{rotated} of {total} encrypted values {verb}.")
