"""Demo data for a local console: safe to run repeatedly, it never duplicates anything."""

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User

DEMO_PASSWORD = "hypereal-demo-2026"  # noqa: S105 - a published demo login, local only
DEMO_USERS = [
    # (email, name, is_staff)
    ("demo@hypereal.local", "Demo Developer", False),
    ("admin@hypereal.local", "Demo Operator", True),
]


class Command(BaseCommand):
    help = "Create the demo accounts (idempotent) and print their logins."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        for email, name, is_staff in DEMO_USERS:
            user = User.objects.filter(email__iexact=email).first()
            if user is None:
                user = User.objects.create_user(
                    email, DEMO_PASSWORD, name=name, is_staff=is_staff, is_superuser=is_staff
                )
            EmailAddress.objects.update_or_create(
                user=user, email=email, defaults={"verified": True, "primary": True}
            )
        self.stdout.write(self.style.SUCCESS("Demo data ready. Sign in at http://127.0.0.1:8000"))
        for email, _name, is_staff in DEMO_USERS:
            role = "staff, also /admin/" if is_staff else "developer"
            self.stdout.write(f"  {email:<24} password: {DEMO_PASSWORD}   ({role})")
