"""``manage.py gpu_simulator --port N``: the RunPod-shaped GPU simulator (docs/gpu_provider.md).

``make run`` starts it in the background; the development settings point the RunPod adapter
at it (``RUNPOD_API_URL=http://127.0.0.1:8911/v2``, ``RUNPOD_REST_URL=…/v1``).
"""

import contextlib
import signal
import time

import urllib3
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from infra.simulator import GpuSimulator


def _non_negative(value: str) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = "Serve the RunPod-shaped GPU simulator (REST /v1 and serverless /v2) on one port."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=getattr(settings, "GPU_SIMULATOR_PORT", 8911)
        )
        parser.add_argument(
            "--host",
            default="127.0.0.1",
            help="Address to bind (loopback by default: the /_sim test hooks take no key).",
        )
        parser.add_argument(
            "--api-key",
            default=None,
            help="The key requests must carry (default: RUNPOD_API_KEY, else 'simulator').",
        )
        parser.add_argument(
            "--wait",
            type=_non_negative,
            default=None,
            metavar="SECONDS",
            help="Do not serve: wait until a simulator answers on --host/--port, then exit.",
        )
        parser.add_argument(
            "--state-file",
            default=None,
            help="Keep templates, endpoints and jobs in this JSON file across restarts.",
        )
        parser.add_argument(
            "--auto-endpoints",
            action="store_true",
            help="Create an endpoint id it does not know on first use (ready, no GPU reported).",
        )
        parser.add_argument(
            "--speed",
            type=float,
            default=1.0,
            help="Simulated seconds per real second (10 makes a 2 s job take 0.2 s).",
        )
        parser.add_argument(
            "--queue-delay",
            type=_non_negative,
            default=1.0,
            help="Simulated seconds a job waits in the queue before a worker takes it.",
        )
        parser.add_argument(
            "--init-seconds",
            type=_non_negative,
            default=5.0,
            help="Simulated seconds a new endpoint's workers initialise before they are idle.",
        )
        parser.add_argument(
            "--default-seconds",
            type=_non_negative,
            default=2.0,
            help="Simulated seconds a job runs when its input does not say (simulate.seconds).",
        )

    def handle(self, *args, **options):
        if options["wait"] is not None:
            self._wait(options["host"], options["port"], options["wait"])
            return
        if options["speed"] <= 0:
            raise CommandError("--speed must be positive.")
        api_key = options["api_key"] or settings.RUNPOD_API_KEY or "simulator"
        try:
            simulator = GpuSimulator(
                host=options["host"],
                port=options["port"],
                api_key=api_key,
                speed=options["speed"],
                queue_delay=options["queue_delay"],
                init_seconds=options["init_seconds"],
                default_seconds=options["default_seconds"],
                state_file=options["state_file"],
                auto_endpoints=options["auto_endpoints"],
            )
        except OSError as exc:
            raise CommandError(
                f"Cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(
            f"GPU simulator (RunPod API) on {simulator.url}: serverless {simulator.api_url}, "
            f"REST {simulator.rest_url}, speed x{options['speed']:g}. Ctrl-C stops it."
        )
        self.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            simulator.serve_forever()

    def _wait(self, host: str, port: int, seconds: float) -> None:
        url = f"http://{host}:{port}/_sim/state"
        http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(1.0))
        deadline = time.monotonic() + seconds
        while True:
            try:
                if http.request("GET", url).status == 200:
                    return
            except urllib3.exceptions.HTTPError:
                pass
            if time.monotonic() >= deadline:
                raise CommandError(f"No GPU simulator answered on {host}:{port}.")
            time.sleep(0.1)
