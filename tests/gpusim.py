"""The ``gpu_simulator`` fixture, for every test directory (``tests/conftest.py`` imports it).

It starts the RunPod-shaped simulator (``infra/simulator.py``) serving real HTTP on a free
loopback port for the test, and points the settings (and the environment, for processes the
test starts afterwards, like a Celery worker) at it, so ``infra.providers.get_provider()`` is
the real RunPod adapter talking to it. It answers the ``GpuSimulator``:

* the clock runs ``speed=10`` (a default 2 s job runs 0.2 s, after 0.05 s in the queue; a new
  endpoint initialises for 0.1 s). For step-by-step tests, ``gpu_simulator.clock.freeze()``
  then ``gpu_simulator.advance(seconds)`` moves time by hand (no sleeping);
* a job's input decides what it does: ``{"simulate": {"outcome", "seconds",
  "queue_seconds", "gpu", "error", "output", "output_bytes"}}``;
* ``gpu_simulator.add_fault("error", status=503, count=2, path="/v2/")`` (also ``timeout``,
  ``garbage``, ``malformed``, ``drop``) makes the next provider requests misbehave;
* ``gpu_simulator.job(id)``, ``.endpoint(id)``, ``.state()`` show what it holds;
  ``.request_count`` counts the provider requests it got; ``.webhook_log`` lists the webhook
  deliveries it attempted and ``.wait_webhooks()`` waits for them.

The jobs' callback URLs point at the discard port (``GPU_CALLBACK_BASE_URL``), so the
simulator's webhooks reach nothing unless a test points them at its ``live_server``.
"""

import secrets

import pytest

from infra.simulator import GpuSimulator

#: Nothing listens there: a callback sent to it fails at once.
DISCARD_URL = "http://127.0.0.1:9"


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
    settings.GPU_CALLBACK_BASE_URL = DISCARD_URL
    for name, value in values.items():
        setattr(settings, name, value)
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("GPU_ENABLED", "true")
    monkeypatch.setenv("GPU_CALLBACK_BASE_URL", DISCARD_URL)
    yield simulator
    simulator.stop()


def endpoint_with_template(simulator: GpuSimulator, endpoint_id: str) -> dict:
    """The endpoint as the simulator holds it, with its template (image, env) under
    ``"template"``."""
    state = simulator.state()
    endpoint = next(e for e in state["endpoints"] if e["id"] == endpoint_id)
    template = next(t for t in state["templates"] if t["id"] == endpoint["templateId"])
    return {**endpoint, "template": template}


def endpoint_ids(simulator: GpuSimulator) -> set[str]:
    return {endpoint["id"] for endpoint in simulator.state()["endpoints"]}
