"""Demo data for a local console: safe to run repeatedly, it never duplicates anything."""

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand

from accounts.models import User
from billing.ledger import wallet_get_or_create
from billing.models import MICROCREDITS_PER_CREDIT, Payment
from billing.payments import event_handle
from billing.services import wallet_adjust
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

    def handle(self, *args, **options) -> None:
        for email, name, is_staff in DEMO_USERS:
            self._user(email, name, is_staff=is_staff)
        acme = self._acme()
        self._money(acme)
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

    def _money(self, acme: Organization) -> None:
        """Top-ups through the same webhook handler Stripe's events reach, a staff grant and
        a refund, so balances, payments and the ledger all have history."""
        demo = User.objects.get(email="demo@hypereal.local")
        operator = User.objects.get(email="admin@hypereal.local")
        personal = personal_org_get_or_create(user=demo)
        plan = [
            (personal, demo, "cs_demo_personal_1", "pi_demo_personal_1", 2500),
            (personal, demo, "cs_demo_personal_2", "pi_demo_personal_2", 1000),
            (acme, demo, "cs_demo_acme_1", "pi_demo_acme_1", 10000),
            (
                acme,
                User.objects.get(email="acme-billing@hypereal.local"),
                "cs_demo_acme_2",
                "pi_demo_acme_2",
                25000,
            ),
        ]
        for org, payer, session_id, intent, cents in plan:
            wallet = wallet_get_or_create(organization=org)
            payment, _ = Payment.objects.get_or_create(
                checkout_session_id=session_id,
                defaults={
                    "wallet": wallet,
                    "created_by": payer,
                    "amount_cents": cents,
                    "credits": cents,
                },
            )
            session = {
                "id": session_id,
                "payment_status": "paid",
                "amount_total": cents,
                "payment_intent": intent,
                "metadata": {"payment": payment.public_id},
            }
            event_handle({"type": "checkout.session.completed", "data": {"object": session}})
        event_handle(
            {
                "type": "charge.refunded",
                "data": {
                    "object": {
                        "id": "ch_demo_acme_1",
                        "payment_intent": "pi_demo_acme_1",
                        "amount_refunded": 1000,
                        "refunds": {
                            "data": [
                                {"id": "re_demo_acme_1", "amount": 1000, "status": "succeeded"}
                            ]
                        },
                    }
                },
            }
        )
        wallet_adjust(
            wallet=wallet_get_or_create(organization=acme),
            actor=operator,
            amount_microcredits=500 * MICROCREDITS_PER_CREDIT,
            reason="Welcome credit for the Acme pilot",
            kind="grant",
            idempotency_key="demo:acme:welcome-grant",
        )

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
