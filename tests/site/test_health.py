"""Liveness and readiness probes, with real failures where they can be made real."""

import pytest
from django.conf import settings
from django.test import Client, override_settings

from hypereal_site import health

pytestmark = pytest.mark.django_db

CLOSED_PORT = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused


def test_healthz_is_ok():
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_is_read_only():
    assert Client().post("/healthz").status_code == 405


def test_readyz_is_ok_when_everything_is_up():
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok"},
    }
    assert "no-cache" in response["Cache-Control"]


def test_readyz_reaches_a_real_broker_when_tasks_are_not_eager():
    # With REDIS_URL (CI) the real Redis broker is contacted; without it kombu's in-memory
    # transport is, which still exercises the connection code path.
    broker_url = settings.REDIS_URL or "memory://"
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=broker_url):
        response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["broker"] == "ok"


def _assert_unavailable(response, failed: str) -> None:
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"][failed].startswith("error")
    assert failed in body["error"]["message"]
    assert body["error"]["type"] == "not_ready"
    others = {name: state for name, state in body["checks"].items() if name != failed}
    assert set(others.values()) == {"ok"}, body
    assert not [name for name in others if name in body["error"]["message"]], body


def test_readyz_names_the_database_when_it_fails(monkeypatch):
    def broken_database():
        raise ConnectionError("could not connect to server")

    # Breaking the test database mid-test is impractical; the check itself is replaced.
    monkeypatch.setitem(health.CHECKS, "database", broken_database)
    _assert_unavailable(Client().get("/readyz"), "database")


def test_readyz_names_the_cache_when_redis_is_unreachable():
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CLOSED_PORT,
        }
    }
    # override_settings(CACHES=...) makes Django drop its cache connections (the
    # setting_changed receiver resets django.core.cache.caches), so this is a real client.
    with override_settings(CACHES=unreachable):
        response = Client().get("/readyz")
    _assert_unavailable(response, "cache")


def test_readyz_names_the_broker_when_it_is_unreachable():
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=CLOSED_PORT):
        response = Client().get("/readyz")
    _assert_unavailable(response, "broker")


def test_readyz_names_every_failed_part(monkeypatch):
    def broken_database():
        raise ConnectionError("down")

    monkeypatch.setitem(health.CHECKS, "database", broken_database)
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=CLOSED_PORT):
        response = Client().get("/readyz")
    assert response.status_code == 503
    message = response.json()["error"]["message"]
    assert "database" in message and "broker" in message and "cache" not in message
