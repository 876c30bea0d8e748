"""Staff edit the GPU catalog in the admin; deployments are read-only there and never show
their environment or webhook secret."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from infra import services
from infra.models import GpuType
from tests.apikeys.factories import personal

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    user = get_user_model().objects.create_superuser(
        email="ops@hypereal.example", password="long-passphrase"
    )
    client = Client()
    client.force_login(user)
    return client


def test_staff_change_a_gpu_rate(staff):
    gpu = GpuType.objects.get(code="ADA_24")
    listing = staff.get("/admin/infra/gputype/")
    assert listing.status_code == 200
    for code in GpuType.objects.values_list("code", flat=True):
        assert code in listing.content.decode()

    response = staff.post(
        f"/admin/infra/gputype/{gpu.pk}/change/",
        {
            "code": "ADA_24",
            "name": gpu.name,
            "memory_gb": gpu.memory_gb,
            "microcredits_per_second": 40_000,
            "provider_gpu_id": gpu.provider_gpu_id,
            "active": "on",
            "sort_order": gpu.sort_order,
        },
    )

    assert response.status_code == 302
    gpu.refresh_from_db()
    assert gpu.microcredits_per_second == 40_000
    assert staff.get(f"/admin/infra/gputype/{gpu.pk}/delete/").status_code == 403


def test_deployments_are_read_only_and_keep_their_secrets(staff, user, gpu_simulator):
    created = services.deployment_create(
        organization=personal(user),
        actor=user,
        slug="comfy",
        docker_image="runpod/worker-comfyui:5.1.0-base",
        gpu_types="ADA_24",
        env={"HF_TOKEN": "hf_admin_secret"},
        webhook_url="http://127.0.0.1:9/hook",
    )
    assert created.deployment.provider_endpoint_id  # created at the simulator
    page = staff.get(f"/admin/infra/deployment/{created.deployment.pk}/change/")

    assert page.status_code == 200
    body = page.content.decode()
    assert "comfy" in body
    assert "hf_admin_secret" not in body
    assert created.webhook_secret not in body
    assert created.deployment.env_encrypted not in body
    assert staff.get("/admin/infra/deployment/add/").status_code == 403
