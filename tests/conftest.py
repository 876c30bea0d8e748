"""Shared fixtures: ``user``, ``client_for(user)``, ``api_client_for(user)``, and
``gpu_simulator`` (tests/gpusim.py: the RunPod-shaped simulator behind the real adapter).

Every test starts with an empty cache (allauth's rate limits and the verification cache
live there) and an empty outbox.
"""

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from apikeys import reservations
from apikeys.verification import local_copies
from billing import catalog
from billing.catalog_seed import seed
from infra.gpu_catalog_seed import gpu_types_seed
from infra.models import GpuType
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.gpusim import gpu_simulator  # noqa: F401 - the fixture, for every test directory
from usage.partitions import month_add, month_floor, usage_partitions_ensure


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()  # on Redis, the reservation counters share its database: cleared too
    local_copies.clear()
    reservations.store().reset()
    yield
    cache.clear()
    local_copies.clear()
    reservations.store().reset()


@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def client_for(db):
    """A Django test client signed in as the given user (no second factor asked)."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def api_client_for(db):
    """A DRF client with the user's session, enforcing CSRF like a real browser would not
    need to (tests that check CSRF build their own client)."""

    def make(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


@pytest.fixture(autouse=True)
def _catalog_for_transactional_tests(request):
    """Transactional tests flush every table between tests, the catalog seeded by a data
    migration included; they get it back here (seeding is idempotent)."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    request.getfixturevalue("transactional_db")
    seed()
    gpu_types_seed(GpuType)
    catalog.invalidate()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """On PostgreSQL usage events live in monthly partitions (no DEFAULT one): ingestion
    creates a missing month itself, but tests also write events with the ORM at any date of
    the last year. The test database gets those months (nothing on SQLite)."""
    now = datetime.now(UTC)
    with django_db_blocker.unblock():
        usage_partitions_ensure(start=month_add(month_floor(now), -14), end=month_add(now, 6))
