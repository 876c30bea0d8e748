"""The beat task: deploying → ready when workers are up, → failed on a provider refusal or
after the deploy timeout; the status signal is sent inside the transaction. The provider is
the simulator behind the real RunPod adapter, its clock frozen (``sim``): a new endpoint's
workers start once the test moves it past their start-up."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from infra import providers, services
from infra.models import Deployment
from infra.signals import deployment_status_changed
from infra.tasks import refresh_deployments
from tests.apikeys.factories import personal
from tests.gpusim import endpoint_with_template

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """The signals received, with whether a transaction was open when each arrived."""
    received = []

    def receiver(sender, deployment, previous, **kwargs):
        received.append(
            (deployment.slug, previous, deployment.status, transaction.get_autocommit())
        )

    deployment_status_changed.connect(receiver)
    yield received
    deployment_status_changed.disconnect(receiver)


def make(user, **kw) -> Deployment:
    return services.deployment_create(
        organization=personal(user),
        actor=user,
        slug=kw.pop("slug", "comfy"),
        docker_image="runpod/worker-comfyui:5.1.0-base",
        gpu_types="ADA_24",
        **kw,
    ).deployment


def test_scale_to_zero_is_ready_once_the_provider_knows_the_endpoint(user, sim, heard):
    deployment = make(user)  # no warm worker asked for: none needs to start
    assert deployment.status == "deploying"

    assert refresh_deployments.apply().get() == 1

    deployment.refresh_from_db()
    assert deployment.status == "ready"
    assert heard == [("comfy", "deploying", "ready", False)]  # inside the transaction
    assert refresh_deployments.apply().get() == 0  # nothing left to do
    assert len(heard) == 1


def test_warm_workers_must_be_up_before_ready(user, sim, heard):
    deployment = make(user, min_workers=1, max_workers=2)

    services.deployments_refresh()
    deployment.refresh_from_db()
    assert deployment.status == "deploying"  # its workers are initialising

    sim.advance(sim.init_seconds)
    services.deployments_refresh()
    deployment.refresh_from_db()
    assert deployment.status == "ready"
    assert [h[:3] for h in heard] == [("comfy", "deploying", "ready")]


def test_no_worker_within_the_deploy_timeout_fails_it(user, sim, heard, settings):
    settings.GPU_DEPLOY_TIMEOUT_SECONDS = 60
    deployment = make(user, min_workers=1, max_workers=1)
    Deployment.objects.filter(pk=deployment.pk).update(
        status_changed_at=timezone.now() - timedelta(seconds=61)
    )

    services.deployments_refresh()

    deployment.refresh_from_db()
    assert deployment.status == "failed"
    assert "1 minutes" in deployment.status_detail
    assert [h[:3] for h in heard] == [("comfy", "deploying", "failed")]


def test_a_provider_outage_is_retried_not_failed(user, sim, heard):
    deployment = make(user, min_workers=1, max_workers=1)
    sim.advance(sim.init_seconds)  # the worker is up, but the provider does not answer
    sim.add_fault("error", status=503, count=100)

    services.deployments_refresh()

    deployment.refresh_from_db()
    assert deployment.status == "deploying"
    assert "retrying" in deployment.status_detail and "503" in deployment.status_detail
    assert heard == []
    sim.clear_faults()
    services.deployments_refresh()
    deployment.refresh_from_db()
    assert deployment.status == "ready"


def test_an_endpoint_the_provider_no_longer_knows_fails_it(user, sim, heard):
    deployment = make(user, min_workers=1, max_workers=1)
    providers.get_provider().delete_endpoint(deployment.provider_endpoint_id)

    services.deployments_refresh()

    deployment.refresh_from_db()
    assert deployment.status == "failed"
    assert "404" in deployment.status_detail
    assert [h[:3] for h in heard] == [("comfy", "deploying", "failed")]


def test_settings_the_provider_missed_are_pushed_by_the_refresh(user, sim):
    deployment = make(user)
    services.deployments_refresh()  # ready
    sim.add_fault("error", status=500, count=100)

    services.deployment_update(
        deployment=deployment, actor=user, max_workers=5, env={"MODE": "fast"}
    )

    deployment.refresh_from_db()
    assert deployment.provider_sync_pending
    assert deployment.max_workers == 5
    endpoint = endpoint_with_template(sim, deployment.provider_endpoint_id)
    assert endpoint["workersMax"] == 1 and endpoint["template"]["env"] == {}
    sim.clear_faults()
    services.deployments_refresh()
    deployment.refresh_from_db()
    assert not deployment.provider_sync_pending
    endpoint = endpoint_with_template(sim, deployment.provider_endpoint_id)
    assert endpoint["workersMax"] == 5 and endpoint["template"]["env"] == {"MODE": "fast"}


def test_the_refresh_is_on_the_beat_schedule(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "infra.tasks.refresh_deployments" in tasks
