"""Demo data for a local console: safe to run repeatedly, it never duplicates anything."""

import logging
import random
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from apikeys.models import ApiKey, ServiceToken
from apikeys.services import apikey_create, apikey_rotate, service_token_create
from billing.ledger import wallet_get_or_create
from billing.models import MICROCREDITS_PER_CREDIT, Payment
from billing.payments import event_handle
from billing.services import wallet_adjust
from hypereal_site.crypto import encrypt
from infra import providers
from infra.job_demo import jobs_demo_history
from infra.models import Deployment
from infra.services import deployment_create, deployment_refresh
from orgs.audit import Target, audit_record
from orgs.models import Invitation, Membership, Organization
from orgs.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    org_create,
    personal_org_get_or_create,
)
from usage.ingest import usage_ingest
from webhooks import events as webhook_events
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from webhooks.signing import new_secret

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

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", default="8000", help="the port `make run` serves on")

    def handle(self, *args, **options) -> None:
        # Quiet while building: the invitations' emails and the eager tasks' log lines
        # would otherwise bury the logins (errors still show).
        logging.disable(logging.WARNING)
        try:
            with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
                for email, name, is_staff in DEMO_USERS:
                    self._user(email, name, is_staff=is_staff)
                acme = self._acme()
                self._money(acme)
                keys = self._keys(acme)
                token = self._service_token()
                events = self._usage(keys)
                deployments = demo_deployments(
                    organization=acme, actor=User.objects.get(email="acme-dev@hypereal.local")
                )
                gpu_jobs = self._gpu_jobs(keys)
                webhook = demo_webhooks(
                    organization=acme, actor=User.objects.get(email=ACME_MEMBERS[0][0])
                )
        finally:
            logging.disable(logging.NOTSET)
        self.stdout.write("API keys (rotated on every run, so each plaintext printed here works):")
        for key, plaintext in keys:
            self.stdout.write(f"  {key.organization.name:<18} {key.name:<12} {plaintext}")
        self.stdout.write(f"Inference-plane service token (demo-gateway): {token}")
        self.stdout.write(
            f"Usage: {events} events over the last 30 days (see /usage, /manage-api-keys)."
        )
        for deployment in deployments:
            self.stdout.write(
                f"GPU deployment {deployment.slug} of {acme.name}: {deployment.status}"
                " (see /infra/deployments)."
            )
        if gpu_jobs:
            self.stdout.write(
                f"GPU jobs: {gpu_jobs} settled demo jobs (see a deployment's Jobs tab)."
            )
        self.stdout.write(
            f"Webhooks: {webhook.url} with {webhook.messages.count()} example deliveries "
            "(Acme Inc, /settings/organization/webhooks)."
        )
        # The logins last, so that they are what the terminal shows when the server starts.
        rule = "=" * 78
        self.stdout.write(rule)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready. Sign in at http://127.0.0.1:{options['port']}/ with:"
            )
        )
        for email, _name, is_staff in DEMO_USERS:
            role = "staff, also /admin/" if is_staff else "developer; owner of Acme Inc"
            self.stdout.write(f"  {email:<28} password: {DEMO_PASSWORD}   ({role})")
        for email, role in ACME_MEMBERS[1:]:
            self.stdout.write(f"  {email:<28} password: {DEMO_PASSWORD}   ({role} of {acme.name})")
        self.stdout.write(rule)

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

    def _keys(self, acme: Organization) -> list[tuple[ApiKey, str]]:
        demo = User.objects.get(email="demo@hypereal.local")
        dev = User.objects.get(email="acme-dev@hypereal.local")
        personal = personal_org_get_or_create(user=demo)
        plan = [
            (personal, demo, "laptop", None, False),
            (personal, demo, "ci-pipeline", 450, False),
            (acme, demo, "prod-eu", 50000, True),
            (acme, dev, "staging", 2000, False),
        ]
        out = []
        for org, creator, name, limit_credits, auto_disable in plan:
            key = ApiKey.objects.filter(
                organization=org, name=name, status=ApiKey.Status.ACTIVE
            ).first()
            if key is None:
                key, plaintext = apikey_create(
                    organization=org,
                    actor=creator,
                    name=name,
                    spending_limit_microcredits=limit_credits * MICROCREDITS_PER_CREDIT
                    if limit_credits
                    else None,
                    auto_disable=auto_disable,
                )
            else:
                key, plaintext = apikey_rotate(key=key, actor=creator)
            out.append((key, plaintext))
        return out

    def _gpu_jobs(self, keys: list[tuple[ApiKey, str]]) -> int:
        """A job history on every ready demo deployment that has none, paid through the
        real holds and ledger (infra.job_demo)."""
        added = 0
        for key, _plaintext in keys:
            for deployment in Deployment.objects.filter(
                organization=key.organization, status=Deployment.Status.READY
            ):
                added += jobs_demo_history(deployment=deployment, api_key=key, actor=key.created_by)
        return added

    def _service_token(self) -> str:
        # Demo only: the token is recreated so that a working one is always printed.
        ServiceToken.objects.filter(name="demo-gateway").delete()
        _token, plaintext = service_token_create(name="demo-gateway")
        return plaintext

    def _usage(self, keys: list[tuple[ApiKey, str]]) -> int:
        """30 days of calls through the same ingestion service the gateway uses. Request
        ids are deterministic, so a second run only finds duplicates."""
        rng = random.Random(2026)
        profiles = {
            "laptop": [
                ("chat.completions", "gpt-5.5", 30),
                ("messages", "claude-sonnet-4-6", 12),
                ("images", "nano_banana", 2),
            ],
            "ci-pipeline": [
                ("responses", "gpt-5.3-codex", 14),
                ("chat.completions", "gpt-5.4-mini", 20),
            ],
            "prod-eu": [
                ("chat.completions", "gpt-5.5", 60),
                ("messages", "claude-opus-4-6", 15),
                ("gemini", "gemini-3.1-pro", 20),
                ("images", "gpt-image-2", 6),
                ("videos", "veo3.1-fast", 1),
                ("audio", "audio-tts", 8),
            ],
            "staging": [
                ("chat.completions", "deepseek-v3.2", 25),
                ("chat.completions", "qwen3.5-flash", 20),
            ],
        }
        now = timezone.now()
        events = []
        for key, _plaintext in keys:
            for day in range(30, -1, -1):
                for endpoint, model, per_day in profiles[key.name]:
                    for i in range(rng.randint(per_day // 2, per_day)):
                        when = now - timedelta(days=day, seconds=rng.randint(0, 86000))
                        if when > now:
                            continue
                        failed = rng.random() < 0.04
                        event = {
                            "request_id": f"demo-{key.name}-{day}-{model}-{i}",
                            "key_id": key.public_id,
                            "occurred_at": when.isoformat(),
                            "endpoint": endpoint,
                            "model": model,
                            "provider": "demo",
                            "status_code": rng.choice([429, 500, 502]) if failed else 200,
                            "latency_ms": rng.randint(180, 9000),
                        }
                        if endpoint in {"chat.completions", "messages", "responses", "gemini"}:
                            event["input_tokens"] = rng.randint(200, 6000)
                            event["output_tokens"] = rng.randint(50, 1500)
                        elif endpoint == "images":
                            event["images"] = rng.randint(1, 2)
                            if model == "gpt-image-2":
                                event["tier"] = rng.choice(["1K", "1K", "2K"])
                        elif endpoint == "videos":
                            event["clips"] = 1
                        else:
                            event["requests"] = 1
                        events.append(event)
        for start in range(0, len(events), 500):
            usage_ingest(events=events[start : start + 500], reference="demo data")
        return len(events)

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


def demo_deployments(*, organization: Organization, actor: User) -> list[Deployment]:
    """A ComfyUI deployment for Acme, created through the service and refreshed once from
    the provider (``make run``'s simulator makes it ready). Idempotent."""
    if getattr(providers, "get_provider", None) is None:
        return []  # no provider configured in this build
    deployment = Deployment.objects.filter(
        organization=organization, slug="comfy-demo", deleted_at__isnull=True
    ).first()
    if deployment is None:
        deployment = deployment_create(
            organization=organization,
            actor=actor,
            slug="comfy-demo",
            name="ComfyUI demo",
            docker_image="runpod/worker-comfyui:5.1.0-base",
            gpu_types=["ADA_48_PRO", "AMPERE_80"],
            max_workers=2,
            execution_timeout_seconds=300,
        ).deployment
    return [deployment_refresh(deployment=deployment)]


DEMO_WEBHOOK_URL = "https://hooks.acme.example/hypereal"


def demo_webhooks(*, organization: Organization, actor: User) -> WebhookEndpoint:
    """One endpoint of ``organization`` with a delivery log (idempotent).

    Its URL is on ``.example``, which never resolves, so the demo's deliveries are written
    as history: a test event, a job that succeeded, and a key alert answered 503 once,
    then 200.
    """
    endpoint = WebhookEndpoint.objects.filter(
        organization=organization, url=DEMO_WEBHOOK_URL
    ).first()
    if endpoint is not None:
        return endpoint
    # Not through endpoint_create: its check resolves the host, and .example never resolves.
    endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=DEMO_WEBHOOK_URL,
        event_types=list(webhook_events.EVENT_TYPES),
        description="Demo endpoint (example deliveries)",
        secret_encrypted=encrypt(new_secret()),
        created_by=actor,
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="webhook.created",
        target=Target("webhook_endpoint", endpoint.public_id, endpoint.url),
        after={"url": endpoint.url, "event_types": endpoint.event_types, "enabled": True},
    )
    now = timezone.now()
    history = [
        ("webhook.test", {"endpointId": endpoint.public_id, "message": "Test"}, [200], 3),
        (
            "job.succeeded",
            {"jobId": "K3uA7Pq9xLm4", "status": "succeeded", "deployment": "comfy-sdxl"},
            [200],
            2,
        ),
        (
            "key.spending_limit.warning",
            {"key": {"name": "prod-eu"}, "percent": 80, "spendCredits": 40000},
            [503, 200],
            1,
        ),
    ]
    for event_type, data, statuses, days_ago in history:
        at = now - timedelta(days=days_ago)
        message = WebhookMessage.objects.create(
            organization=organization,
            endpoint=endpoint,
            event_type=event_type,
            body=webhook_events.envelope(event_type=event_type, data=data, at=at),
            is_test=event_type == webhook_events.TEST_EVENT,
            status=WebhookMessage.Status.SUCCEEDED,
            attempt_count=len(statuses),
            next_attempt_at=None,
            last_status_code=statuses[-1],
            created_at=at,
            finished_at=at + timedelta(seconds=5 * (len(statuses) - 1)),
        )
        for number, status in enumerate(statuses, start=1):
            WebhookAttempt.objects.create(
                message=message,
                number=number,
                url=DEMO_WEBHOOK_URL,
                succeeded=status < 300,
                status_code=status,
                response_excerpt="ok" if status < 300 else "Service Unavailable",
                duration_ms=120 + 40 * number,
                error_code="" if status < 300 else "http_status",
                error_params={} if status < 300 else {"status": status},
                created_at=at + timedelta(seconds=5 * (number - 1)),
            )
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(last_success_at=now - timedelta(days=1))
    return endpoint
