"""The GPU provider the console talks to: ``get_provider()`` (docs/gpu_provider.md).

``settings.GPU_PROVIDER`` chooses it:

* ``"runpod"``: the RunPod adapter at ``RUNPOD_API_URL`` / ``RUNPOD_REST_URL`` with
  ``RUNPOD_API_KEY`` — RunPod itself in production, the simulator started by ``make run``
  (or by the ``gpu_simulator`` test fixture) in development and tests;
* ``"simulator"``: the same adapter, pointed at a simulator started inside this process on a
  free loopback port the first time it is asked for. Its jobs live in this process only (a
  Celery worker in another process would not see them): for a shell or a single-process
  demo. ``make run`` uses a simulator process of its own instead.

With ``GPU_ENABLED`` off, ``get_provider()`` raises a non-retryable ``ProviderError``.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from infra.simulator import GpuSimulator

from .base import GpuProvider, ProviderError
from .runpod import RunPodProvider

PROVIDERS = ("runpod", "simulator")

_simulator_lock = threading.Lock()
_simulator = None


def get_provider() -> GpuProvider:
    if not settings.GPU_ENABLED:
        raise ProviderError("GPU deployments are turned off on this console.", retryable=False)
    name = settings.GPU_PROVIDER
    limits = (
        settings.RUNPOD_CONNECT_TIMEOUT_SECONDS,
        settings.RUNPOD_READ_TIMEOUT_SECONDS,
        settings.RUNPOD_MAX_RESPONSE_BYTES,
    )
    if name == "runpod":
        return _runpod(
            settings.RUNPOD_API_KEY, settings.RUNPOD_API_URL, settings.RUNPOD_REST_URL, *limits
        )
    if name == "simulator":
        simulator = in_process_simulator()
        return _runpod(simulator.api_key, simulator.api_url, simulator.rest_url, *limits)
    raise ImproperlyConfigured(f"GPU_PROVIDER must be one of {', '.join(PROVIDERS)}.")


@lru_cache(maxsize=8)
def _runpod(
    api_key: str, api_url: str, rest_url: str, connect: float, read: float, max_bytes: int
) -> RunPodProvider:
    # One adapter (one connection pool) per configuration; tests that point the settings at
    # another simulator get another adapter.
    return RunPodProvider(
        api_key=api_key,
        api_url=api_url,
        rest_url=rest_url,
        connect_timeout=connect,
        read_timeout=read,
        max_response_bytes=max_bytes,
    )


def in_process_simulator() -> GpuSimulator:
    """The simulator serving ``GPU_PROVIDER = "simulator"``, started on first use."""
    global _simulator
    with _simulator_lock:
        if _simulator is None:
            _simulator = GpuSimulator(
                api_key=settings.RUNPOD_API_KEY or "simulator", auto_endpoints=True
            ).start()
        return _simulator
