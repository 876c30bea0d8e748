"""What the GPU job tests share: a funded tenant with a ``ck_`` key and a ready deployment on
two GPU types of known rates, whose endpoint exists at the simulator (``gpu_simulator``,
tests/gpusim.py) and is reached through the real RunPod adapter.

Fixtures (tests/infra/conftest.py makes them available to the infra tests):

* ``sim``: the simulator with its clock frozen (tests move it with ``sim.advance(s)``), and
  the job settings of tests: ``sync`` polls every 0.05 s, a provider error is retried at the
  next poll (no backoff) unless a test sets one;
* ``scene``: ``make_scene(sim)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from apikeys.models import ApiKey
from billing import ledger
from billing.models import Hold, LedgerEntry, Wallet
from infra import providers, services
from infra.models import Deployment, GpuJob, GpuType
from infra.simulator import GpuSimulator
from orgs import services as org_services
from orgs.models import Organization
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import fund, key_make

CREDIT = 1_000_000
# µcr per second of one GPU (distinct codes: the catalog's seeded types are left alone).
RATES = {"JOBTEST_SMALL": 150, "JOBTEST_BIG": 610}
PROVIDER_IDS = {"JOBTEST_SMALL": "NVIDIA Test Small", "JOBTEST_BIG": "NVIDIA Test Big"}
SMALL, BIG = PROVIDER_IDS["JOBTEST_SMALL"], PROVIDER_IDS["JOBTEST_BIG"]


@pytest.fixture
def sim(gpu_simulator, settings) -> GpuSimulator:
    settings.GPU_JOB_SYNC_POLL_SECONDS = 0.05
    settings.GPU_JOB_RETRY_BASE_SECONDS = 0.0
    gpu_simulator.clock.freeze()
    return gpu_simulator


def gpu_types() -> None:
    for position, (code, rate) in enumerate(RATES.items()):
        GpuType.objects.update_or_create(
            code=code,
            defaults={
                "name": code,
                "memory_gb": 24,
                "microcredits_per_second": rate,
                "provider_gpu_id": PROVIDER_IDS[code],
                "sort_order": 100 + position,
            },
        )


@dataclass
class Scene:
    user: object
    org: Organization
    key: ApiKey
    secret: str
    deployment: Deployment

    @property
    def wallet(self) -> Wallet:
        return Wallet.objects.get(organization=self.org)

    def auth(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}


def make_scene(
    simulator: GpuSimulator,
    *,
    credits: int = 1000,
    gpu_count: int = 2,
    timeout: int = 600,
    max_workers: int = 1,
    org=None,
    user=None,
) -> Scene:
    """A ready deployment on JOBTEST_SMALL then JOBTEST_BIG, its endpoint created at the
    simulator through the adapter and initialised (the clock moved past its start-up)."""
    gpu_types()
    user = user or UserFactory()
    org = org or org_services.personal_org_get_or_create(user=user)
    if credits:
        fund(org, credits)
    else:
        ledger.wallet_get_or_create(organization=org)
    key, secret = key_make(org=org, actor=user, name="gpu")
    deployment = Deployment.objects.create(
        organization=org,
        created_by=user,
        slug=f"comfy-{key.public_id.lower()}"[:40],
        name="My Comfy",
        docker_image="runpod/worker-comfyui:dev-cuda12.1.1",
        gpu_types=["JOBTEST_SMALL", "JOBTEST_BIG"],
        gpu_count=gpu_count,
        max_workers=max_workers,
        execution_timeout_seconds=timeout,
        status=Deployment.Status.READY,
    )
    endpoint_id = providers.get_provider().create_endpoint(services._spec(deployment))
    Deployment.objects.filter(pk=deployment.pk).update(provider_endpoint_id=endpoint_id)
    deployment.refresh_from_db()
    simulator.advance(simulator.init_seconds)
    return Scene(user=user, org=org, key=key, secret=secret, deployment=deployment)


@pytest.fixture
def scene(db, sim) -> Scene:
    return make_scene(sim)


def wait_for(check, *, seconds: float = 15.0, step: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not reached in time")


def provider_status(simulator: GpuSimulator, job: GpuJob) -> str:
    """The job's raw status at the provider (``IN_QUEUE``, ``COMPLETED``…)."""
    return simulator.job(job.provider_job_id)["status"]


def provider_jobs(simulator: GpuSimulator) -> list[dict]:
    return simulator.state()["jobs"]


def captures(job: GpuJob) -> list[LedgerEntry]:
    return list(
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD_CAPTURE, reference=job.hold.reference)
    )


def hold_of(job: GpuJob) -> Hold:
    return Hold.objects.get(pk=job.hold_id)


def finished_job(deployment: Deployment, *, status: str = "succeeded", **fields) -> GpuJob:
    """A settled job written with the ORM (pages and layout tests; no provider involved)."""
    from django.utils import timezone  # noqa: PLC0415 - only this helper needs it

    now = timezone.now()
    values = {
        "organization": deployment.organization,
        "deployment": deployment,
        "status": status,
        "input": {"prompt": "an astronaut", "seed": 42},
        "output": {"images": ["https://cdn.example/out.png"]} if status == "succeeded" else None,
        "gpu_type": deployment.gpu_types[0],
        "gpu_count": deployment.gpu_count,
        "execution_ms": 18420,
        "charged_microcredits": 5526 if status == "succeeded" else 0,
        "created_at": now,
        "started_at": now,
        "finished_at": now,
        "settled_at": now,
        "timeout_at": now,
        "provider_job_id": "pj-" + status,
    }
    values.update(fields)
    return GpuJob.objects.create(**values)
