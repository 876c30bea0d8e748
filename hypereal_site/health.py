"""Liveness and readiness probes for load balancers and orchestrators."""

import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from hypereal_site.celery import app
from orgs.access import public_view

logger = logging.getLogger("hypereal.health")


@public_view
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving; checks nothing else."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    for alias in connections:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()


def _check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value just written")
    cache.delete(key)


# A probe must answer quickly: an orchestrator waits for it, and an unreachable part is
# the answer, not a reason to keep trying.
PROBE_TIMEOUT_SECONDS = 2


def _check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # tasks run in-process; there is no broker to reach
    # The URL is read from settings on every call (not from Celery's cached config) so the
    # probe checks the broker the process is configured for right now.
    with app.connection_for_write(
        url=settings.CELERY_BROKER_URL,
        connect_timeout=PROBE_TIMEOUT_SECONDS,
        transport_options={
            **app.conf.broker_transport_options,
            "socket_connect_timeout": PROBE_TIMEOUT_SECONDS,
            "socket_timeout": PROBE_TIMEOUT_SECONDS,
        },
    ) as conn:
        # max_retries=0: one attempt. kombu otherwise sleeps interval_start (2 s) between
        # attempts, which made a refused connection take over two seconds to report.
        conn.ensure_connection(max_retries=0, timeout=PROBE_TIMEOUT_SECONDS)


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


@public_view
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Database, cache and broker are all reachable; 503 naming the failing parts otherwise."""
    results: dict[str, str] = {}
    failed: list[str] = []
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = f"error: {type(exc).__name__}"
            failed.append(name)
        else:
            results[name] = "ok"
    if failed:
        return JsonResponse(
            {
                "status": "unavailable",
                "checks": results,
                "error": {
                    "type": "not_ready",
                    "message": "Unreachable: " + ", ".join(failed) + ".",
                },
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "checks": results})
