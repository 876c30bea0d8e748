"""Demo data for a local console: safe to run repeatedly, it never duplicates anything."""

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from orgs.models import Invitation, Membership, Organization
from orgs.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    org_create,
    personal_org_get_or_create,
)

DEMO_PASSWORD = "hypereal-demo-2026"  # noqa: S105 - a published demo login, local only
DEMO_USERS = [
    # (email, name, is_staff)
    ("demo@hypereal.local", "Demo Developer", False),
    ("admin@hypereal.local", "Demo Operator", True),
]
# Acme Inc has one member per role; demo@ is its owner.
ACME_MEMBERS = [
    ("demo@hypereal.local", "owner"),
    ("acme-admin@hypereal.local", "admin"),
    ("acme-dev@hypereal.local", "developer"),
    ("acme-billing@hypereal.local", "billing"),
    ("acme-viewer@hypereal.local", "viewer"),
]


class Command(BaseCommand):
    help = "Create the demo accounts (idempotent) and print their logins."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        for email, name, is_staff in DEMO_USERS:
            self._user(email, name, is_staff=is_staff)
        acme = self._acme()
        self.stdout.write(self.style.SUCCESS("Demo data ready. Sign in at http://127.0.0.1:8000"))
        for email, _name, is_staff in DEMO_USERS:
            role = "staff, also /admin/" if is_staff else "developer; owner of Acme Inc"
            self.stdout.write(f"  {email:<28} password: {DEMO_PASSWORD}   ({role})")
        for email, role in ACME_MEMBERS[1:]:
            self.stdout.write(f"  {email:<28} password: {DEMO_PASSWORD}   ({role} of {acme.name})")

    def _user(self, email: str, name: str, *, is_staff: bool = False) -> User:
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(
                email, DEMO_PASSWORD, name=name, is_staff=is_staff, is_superuser=is_staff
            )
        EmailAddress.objects.update_or_create(
            user=user, email=email, defaults={"verified": True, "primary": True}
        )
        personal_org_get_or_create(user=user)
        return user

    def _acme(self) -> Organization:
        """Built through the same services as the console, so its audit log is real."""
        owner = User.objects.get(email=ACME_MEMBERS[0][0])
        acme = Organization.objects.filter(slug="acme", deleted_at__isnull=True).first()
        if acme is None:
            acme = org_create(actor=owner, name="Acme Inc", slug="acme")
        for email, role in ACME_MEMBERS[1:]:
            user = self._user(email, f"Acme {role.title()}")
            if Membership.objects.filter(organization=acme, user=user).exists():
                continue
            existing = Invitation.objects.filter(
                organization=acme, email=email, accepted_at__isnull=True, revoked_at__isnull=True
            ).first()
            if existing is not None:
                invitation_revoke(invitation=existing, actor=owner)
            _invitation, token = invitation_create(
                organization=acme, actor=owner, email=email, role=role
            )
            invitation_accept(token=token, user=user)
        return acme
