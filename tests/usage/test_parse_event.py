"""Ingestion parses most events through a fast path (``_parse_common``) and the rest
through ``parse_event``, which also explains a refusal. The two must agree: whatever the
fast path accepts, ``parse_event`` accepts as the same ``Event``; whatever ``parse_event``
refuses, the fast path leaves to it."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from usage.ingest import MAX_AGE, EventError, _parse_common, parse_event

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
BASE = {
    "request_id": "req-1",
    "key_id": "k_abc",
    "occurred_at": "2026-11-30T11:59:00Z",
    "endpoint": "chat.completions",
    "model": "gpt-5.5",
    "provider": "openai",
    "status_code": 200,
    "latency_ms": 840,
    "input_tokens": 1000,
    "output_tokens": 500,
}
FUTURE = timedelta(seconds=settings.USAGE_MAX_FUTURE_SECONDS)
#: Values each field is tried with: good ones, edge ones, and every kind of bad one.
VALUES = {
    "request_id": ["r", "x" * 128, "x" * 129, "", None, 7, "ré", "a\x00b", "\ud800", ["r"]],
    "key_id": ["k_1", "k" * 16, "k" * 17, None, "ключ", False],
    "occurred_at": [
        "2026-11-30T11:59:00+00:00",
        "2026-11-30T13:59:00+02:00",
        (NOW + FUTURE).isoformat(),
        (NOW + FUTURE + timedelta(microseconds=1)).isoformat(),
        (NOW - MAX_AGE).isoformat(),
        (NOW - MAX_AGE - timedelta(microseconds=1)).isoformat(),
        "2026-11-30T11:59:00",  # no zone
        "0001-01-01T00:00:00+14:00",  # overflows on the way to UTC
        "yesterday",
        "2026-11-30T11:59:00.123456Z",
        1764500000,
    ],
    "endpoint": ["chat.completions", "images", "nope", "", None, 3],
    "model": ["gpt-5.5", "m" * 100, "m" * 101, "", None, "modèle"],
    "provider": ["", None, "p" * 64, "p" * 65, 0, "fournisseur-é"],
    "tier": ["", None, "1K", "12345678", "123456789", 1],
    "reservation_id": ["", None, "r" * 64, "r" * 65, {}],
    "status_code": [200, 100, 599, 99, 600, None, "200", 200.0, True],
    "latency_ms": [0, None, 86_400_000, 86_400_001, -1, 1.5, False],
    "input_tokens": [0, None, 100_000_000, 100_000_001, -1, "5", True, 2**70],
    "images": [0, 1_000, 1_001, None],
    "requests": [1_000_000, 1_000_001, -5],
}


def slow(raw):
    try:
        return parse_event(3, raw, now=NOW)
    except EventError:
        return "refused"


def fast(raw):
    return _parse_common(3, raw, earliest=NOW - MAX_AGE, latest=NOW + FUTURE)


def cases():
    yield BASE
    for name, values in VALUES.items():
        for value in values:
            yield {**BASE, name: value}
    missing = [{k: v for k, v in BASE.items() if k != name} for name in BASE]
    yield from missing
    # Two fields off at once, so that no check hides behind another.
    pairs = itertools.combinations(["request_id", "occurred_at", "status_code", "input_tokens"], 2)
    for a, b in pairs:
        for va, vb in itertools.product(VALUES[a][:4], VALUES[b][:4]):
            yield {**BASE, a: va, b: vb}
    yield from ([BASE], "event", None, 5)


@pytest.mark.parametrize("raw", list(cases()))
def test_the_fast_path_agrees_with_parse_event(raw):
    quick, full = fast(raw), slow(raw)
    if quick is not None:
        assert full != "refused"
        assert quick == full
    if full == "refused":
        assert quick is None


def test_the_common_event_takes_the_fast_path():
    """A plain event from the gateway, with or without the optional fields."""
    for raw in (BASE, {**BASE, "tier": "1K", "reservation_id": "rsv_1", "provider": None}):
        quick = fast(raw)
        assert quick is not None and quick == slow(raw)
        assert quick.occurred_at.tzinfo is UTC
