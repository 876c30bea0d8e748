"""Demo job history for ``manage.py load_demo``: jobs settled through the real holds and
ledger (no provider involved), so the deployment's Jobs tab, ``/usage`` and the ledger
agree. Idempotent: a deployment that has jobs gets none."""

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from billing.ledger import hold_place, wallet_get_or_create
from hypereal_site.ids import new_public_id

from .jobs import deployment_hold_amount, job_settle
from .models import Deployment, GpuJob, GpuType

# (outcome, execution ms, GPU id index or None, output)
HISTORY = [
    ("succeeded", 18_420, 1, {"images": ["https://cdn.hypereal.local/demo/astronaut.png"]}),
    ("succeeded", 9_870, 0, {"images": ["https://cdn.hypereal.local/demo/portrait.png"]}),
    ("failed", 2_300, None, None),
    ("succeeded", 41_050, 1, {"images": ["https://cdn.hypereal.local/demo/city.png"]}),
    ("canceled", 6_000, 0, None),
    ("timed_out", None, None, None),
]


def jobs_demo_history(*, deployment: Deployment, api_key=None, actor=None) -> int:
    """Add the demo history to a ready deployment; returns how many jobs were added."""
    if deployment.jobs.exists():
        return 0
    gpu_ids = list(
        GpuType.objects.filter(code__in=deployment.gpu_types).values_list(
            "provider_gpu_id", flat=True
        )
    )
    amount = deployment_hold_amount(deployment)
    wallet = wallet_get_or_create(organization=deployment.organization)
    now = timezone.now()
    for i, (outcome, execution_ms, gpu, output) in enumerate(HISTORY):
        public_id = new_public_id()
        hold, _ = hold_place(
            wallet=wallet,
            amount_microcredits=amount,
            reference=f"gpujob:{public_id}",
            expires_in_seconds=deployment.execution_timeout_seconds + 900,
            key=api_key,
        )
        created = now - timedelta(hours=6 * (len(HISTORY) - i))
        with transaction.atomic():
            job = GpuJob.objects.create(
                public_id=public_id,
                organization=deployment.organization,
                deployment=deployment,
                api_key=api_key,
                created_by=actor,
                hold=hold,
                input={"prompt": f"demo job {i + 1}", "seed": 42 + i},
                gpu_type=deployment.gpu_types[0],
                gpu_count=deployment.gpu_count,
                created_at=created,
                started_at=created + timedelta(seconds=3),
                timeout_at=now + timedelta(seconds=deployment.execution_timeout_seconds),
                provider_job_id=f"demo-{public_id.lower()}",
                callback_nonce=secrets.token_hex(16),
                status=GpuJob.Status.RUNNING if outcome == "canceled" else GpuJob.Status.QUEUED,
            )
        job_settle(
            job=job,
            outcome=outcome,
            execution_ms=execution_ms,
            gpu_type_id=gpu_ids[gpu] if gpu is not None and gpu < len(gpu_ids) else None,
            output=output,
            error={"failed": "handler raised: CUDA out of memory", "canceled": "Cancelled."}.get(
                outcome, ""
            ),
        )
    return len(HISTORY)
