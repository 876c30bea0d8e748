"""Fixtures of the GPU tests: ``gpu_simulator`` (tests/gpusim.py, for every directory) and,
from ``tests/infra/gpuscene.py``, ``sim`` (the simulator with its clock frozen and the job
settings of tests) and ``scene`` (a funded tenant, a ``ck_`` key, a ready deployment whose
endpoint exists at the simulator)."""

from .gpuscene import scene, sim  # noqa: F401 - fixtures
