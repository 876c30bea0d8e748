import pytest

from apikeys import reservations
from tests.apikeys.factories import acme, funded_key, internal, owner, svc_token  # noqa: F401


@pytest.fixture(autouse=True)
def _no_leases_across_tests():
    """Leased reservations live in the process: none may outlive the test (and its store)."""
    reservations.leases.due(everything=True)
    yield
    reservations.leases.due(everything=True)
