"""Every response carries an X-Request-ID, and every log line written while serving the
request carries the same id, so one client report finds all of its log lines."""

import logging
import re

import pytest
from django.test import Client

from hypereal_site import health
from tests.logcapture import capture_json_logs

pytestmark = pytest.mark.django_db

GENERATED = re.compile(r"[0-9a-f]{32}")


def test_id_is_generated_when_absent():
    first = Client().get("/healthz")["X-Request-ID"]
    second = Client().get("/healthz")["X-Request-ID"]
    assert GENERATED.fullmatch(first)
    assert GENERATED.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "sane",
    ["req-7f3a.9:b_2", "a", "0123456789abcdef0123456789abcdef", "x" * 128],
)
def test_sane_client_id_is_echoed(sane):
    assert Client().get("/healthz", HTTP_X_REQUEST_ID=sane)["X-Request-ID"] == sane


@pytest.mark.parametrize(
    "garbage",
    [
        "has spaces in it",
        "forged\nlevel=ERROR",
        "trailing-newline\n",
        "x" * 129,
        "y" * 500,
        '{"json": true}',
        "ünïcode",
        "",
    ],
)
def test_garbage_client_id_is_replaced(garbage):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=garbage)
    assert response.status_code == 200
    assert GENERATED.fullmatch(response["X-Request-ID"])


def test_api_errors_carry_the_id_too():
    response = Client().get("/api/nope", HTTP_X_REQUEST_ID="trace-404")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "trace-404"


def test_lines_logged_inside_the_view_carry_the_id(monkeypatch):
    def broken_database():
        raise ConnectionError("database is down")

    monkeypatch.setitem(health.CHECKS, "database", broken_database)
    with capture_json_logs() as lines:
        response = Client().get("/readyz", HTTP_X_REQUEST_ID="trace-ready-1")
    assert response.status_code == 503

    from_view = [line for line in lines if line["logger"] == "hypereal.health"]
    assert from_view, lines
    assert all(line["request_id"] == "trace-ready-1" for line in from_view)
    # Django's own "Service Unavailable: /readyz" line is written after the middleware
    # has returned; it must still name the request.
    from_django = [line for line in lines if line["logger"] == "django.request"]
    assert from_django, lines
    assert all(line["request_id"] == "trace-ready-1" for line in from_django)


def test_generated_id_is_the_one_in_the_logs():
    with capture_json_logs() as lines:
        response = Client().get("/api/nope")
    request_id = response["X-Request-ID"]
    assert GENERATED.fullmatch(request_id)
    assert lines
    assert {line["request_id"] for line in lines} == {request_id}


def test_lines_outside_a_request_carry_no_id():
    with capture_json_logs() as lines:
        Client().get("/healthz", HTTP_X_REQUEST_ID="trace-done")
        logging.getLogger("hypereal.test").warning("after the request")
    assert lines[-1]["message"] == "after the request"
    assert lines[-1]["request_id"] == "-"
