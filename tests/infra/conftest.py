"""Fixtures of the GPU tests.

``gpu_simulator``: the RunPod-shaped simulator (``infra/simulator.py``) serving real HTTP on a
free loopback port for the test, with the settings (and the environment, for processes the
test starts afterwards, like a Celery worker) pointing the RunPod adapter at it, so
``infra.providers.get_provider()`` talks to it. It answers the ``GpuSimulator``:

* the clock runs ``speed=10`` (a default 2 s job runs 0.2 s, after 0.05 s in the queue; a new
  endpoint initialises for 0.1 s). For step-by-step tests, ``gpu_simulator.clock.freeze()``
  then ``gpu_simulator.advance(seconds)`` moves time by hand (no sleeping);
* ``gpu_simulator.add_fault("error", status=503, count=2, path="/v2/")`` (also ``timeout``,
  ``garbage``, ``malformed``, ``drop``) makes the next provider requests misbehave;
* ``gpu_simulator.job(id)``, ``.endpoint(id)``, ``.state()`` show what it holds;
  ``.webhook_log`` lists the webhook deliveries it attempted and ``.wait_webhooks()`` waits for
  them.
"""

import secrets

import pytest

from infra.simulator import GpuSimulator


@pytest.fixture
def gpu_simulator(settings, monkeypatch):
    simulator = GpuSimulator(
        api_key=f"sim-{secrets.token_hex(8)}",
        speed=10.0,
        queue_delay=0.5,
        init_seconds=1.0,
        default_seconds=2.0,
        webhook_retry_seconds=0.1,
        tick_seconds=0.01,
    ).start()
    values = {
        "GPU_PROVIDER": "runpod",
        "RUNPOD_API_KEY": simulator.api_key,
        "RUNPOD_API_URL": simulator.api_url,
        "RUNPOD_REST_URL": simulator.rest_url,
    }
    settings.GPU_ENABLED = True
    for name, value in values.items():
        setattr(settings, name, value)
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GPU_ENABLED", "true")
    yield simulator
    simulator.stop()
