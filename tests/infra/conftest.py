"""Fixtures of the GPU tests: ``gpu_simulator`` (tests/gpusim.py, for every directory) and,
from ``tests/infra/gpuscene.py``, ``sim`` (the simulator with its clock frozen and the job
settings of tests) and ``scene`` (a funded tenant, a ``ck_`` key, a ready deployment whose
endpoint exists at the simulator)."""

import pytest

from .gpuscene import scene, sim  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def _loopback_webhook_urls(settings):
    """Deployments here may send their webhooks to loopback (``http://127.0.0.1:9/hook``);
    the tests of the rule that refuses private addresses turn it off again."""
    settings.ALLOW_PRIVATE_OUTBOUND = True
