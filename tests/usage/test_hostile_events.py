"""Hostile usage events: each one is rejected alone with its reason, never a 500 for the
whole batch (the gateway retries a 5xx for ever). The good events of the same batch are
stored and charged. Bodies are sent as raw JSON so that lone surrogates arrive escaped
(``"\\ud800"``), exactly as a buggy or hostile gateway would send them."""

import json

import pytest

from billing.models import LedgerEntry
from tests.apikeys.factories import assert_envelope, event, rid
from usage.models import UsageEvent, UsageRequest

pytestmark = pytest.mark.django_db

URL = "/internal/v1/usage"
NUL = "\x00"
SURROGATE = "\ud800"

HOSTILE = [
    ("request_id", f"req-{NUL}-1", "invalid_event"),
    ("request_id", f"req-{SURROGATE}", "invalid_event"),
    ("key_id", f"key{NUL}", "invalid_event"),
    ("key_id", SURROGATE, "invalid_event"),
    ("provider", f"open{NUL}ai", "invalid_event"),
    ("provider", f"open{SURROGATE}ai", "invalid_event"),
    ("model", f"gpt-5.5{NUL}", "invalid_event"),
    ("model", SURROGATE, "invalid_event"),
    ("endpoint", f"chat{NUL}", "invalid_event"),
    ("tier", f"1K{NUL}", "invalid_event"),
    ("tier", f"{SURROGATE}K", "invalid_event"),
    ("occurred_at", f"2026-01-01T00:00:00{NUL}Z", "invalid_event"),
    ("occurred_at", f"2026-01-01T00:00:00{SURROGATE}", "invalid_event"),
    # Valid ISO 8601 whose conversion to UTC overflows the datetime range.
    ("occurred_at", "0001-01-01T00:00:00+14:00", "invalid_event"),
    ("occurred_at", "9999-12-31T23:59:59-14:00", "invalid_event"),
    # In range for Python, out of any sane range for a usage report.
    ("occurred_at", "0001-01-01T00:00:00+00:00", "occurred_at_too_old"),
    ("occurred_at", "9999-12-31T23:59:59+00:00", "occurred_at_in_future"),
]


def post_raw(internal, events):
    # ensure_ascii (the default) writes a lone surrogate as the escape "\ud800".
    return internal.post(URL, data=json.dumps({"events": events}), content_type="application/json")


@pytest.mark.parametrize(("field", "value", "error_type"), HOSTILE)
def test_one_hostile_event_is_rejected_alone(internal, funded_key, field, value, error_type):
    key, _plaintext = funded_key
    good_before = event(key)
    bad = event(key, **{field: value})
    good_after = event(key, input_tokens=10)
    response = post_raw(internal, [good_before, bad, good_after])

    assert response.status_code == 200, response.content[:600]
    body = response.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1]
    assert body["rejected"][0]["error"]["type"] == error_type
    assert field.split("_")[0] in body["rejected"][0]["error"]["message"]
    stored = set(UsageEvent.objects.values_list("request_id", flat=True))
    assert stored == {good_before["request_id"], good_after["request_id"]}
    assert set(UsageRequest.objects.values_list("request_id", flat=True)) == stored
    charged = -sum(
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.USAGE).values_list(
            "amount_microcredits", flat=True
        )
    )
    assert charged == body["charged_microcredits"] > 0


def test_a_rejected_event_echoes_only_a_clean_request_id(internal, funded_key):
    """The rejection echoes the request id when it is clean text, and ``null`` when it is
    not (a surrogate cannot even be written as UTF-8 in the answer)."""
    key, _plaintext = funded_key
    clean = event(key, model="no-such-model")
    dirty = event(key, request_id=f"r{SURROGATE}")
    nul = event(key, request_id=f"r{NUL}")
    response = post_raw(internal, [clean, dirty, nul])
    assert response.status_code == 200, response.content[:600]
    rejected = response.json()["rejected"]
    assert [(r["index"], r["request_id"]) for r in rejected] == [
        (0, clean["request_id"]),
        (1, None),
        (2, None),
    ]
    assert not UsageEvent.objects.exists()


def test_a_non_string_key_in_an_event_is_harmless(internal, funded_key):
    key, _plaintext = funded_key
    good = event(key)
    odd = {**event(key), f"extra{NUL}": 1}
    response = post_raw(internal, [good, odd])
    assert response.status_code == 200
    assert response.json()["accepted"] == 2


# Characters that COPY's text format escapes (ingestion writes its rows as COPY text on
# PostgreSQL), and those an array literal quotes (the request ids are claimed as one
# ``text[]``): each is stored exactly, in every text column it can reach.
COPY_SPECIAL = [
    "tab\there",
    "line\nend",
    "carriage\rreturn",
    "back\\slash\\N",
    "\\.",
    'quote"and{brace,comma}',
    "NULL",
]


@pytest.mark.parametrize("text", COPY_SPECIAL)
def test_text_that_copy_escapes_is_stored_exactly(internal, funded_key, text):
    key, _plaintext = funded_key
    plain = event(key)
    odd = event(key, request_id=f"r-{text}-{rid()}", provider=text)
    response = post_raw(internal, [plain, odd])
    assert response.status_code == 200, response.content[:600]
    assert response.json()["accepted"] == 2
    stored = UsageEvent.objects.get(request_id=odd["request_id"])
    assert stored.provider == text
    assert UsageEvent.objects.get(request_id=plain["request_id"]).provider == plain["provider"]
    assert UsageRequest.objects.filter(request_id=odd["request_id"]).exists()


# --- the hold and verify endpoints: the same inputs are a 400 in the envelope -------------


@pytest.mark.parametrize("value", [f"job{NUL}", f"job{SURROGATE}"])
def test_a_hold_with_a_hostile_reference_is_a_400(internal, funded_key, value):
    key, _plaintext = funded_key
    body = {"key_id": key.public_id, "amount_microcredits": 1000, "reference": value}
    response = internal.post(
        "/internal/v1/holds", data=json.dumps(body), content_type="application/json"
    )
    assert_envelope(response, 400)


@pytest.mark.parametrize("value", [f"k{NUL}", SURROGATE])
def test_a_hold_with_a_hostile_key_id_is_a_400(internal, funded_key, value):
    body = {"key_id": value, "amount_microcredits": 1000, "reference": rid()}
    response = internal.post(
        "/internal/v1/holds", data=json.dumps(body), content_type="application/json"
    )
    assert_envelope(response, 400)


@pytest.mark.parametrize("hold_id", ["%00", "h%00x", "%ED%A0%80"])
@pytest.mark.parametrize("action", ["capture", "release"])
def test_a_hostile_hold_id_in_the_url_is_a_404(internal, funded_key, hold_id, action):
    response = internal.post(
        f"/internal/v1/holds/{hold_id}/{action}",
        data=json.dumps({"amount_microcredits": 0}),
        content_type="application/json",
    )
    assert_envelope(response, 404)


def test_a_capture_with_a_hostile_event_is_a_400(internal, funded_key):
    key, _plaintext = funded_key
    hold = internal.post(
        "/internal/v1/holds",
        {"key_id": key.public_id, "amount_microcredits": 1000, "reference": rid()},
        format="json",
    ).json()
    body = {"amount_microcredits": 500, "event": event(key, provider=f"x{SURROGATE}")}
    response = internal.post(
        f"/internal/v1/holds/{hold['hold_id']}/capture",
        data=json.dumps(body),
        content_type="application/json",
    )
    assert_envelope(response, 400, "invalid_event")


@pytest.mark.parametrize(
    "extra",
    [
        {"model": f"gpt-5.5{NUL}"},
        {"model": SURROGATE},
        {"endpoint": f"chat{NUL}"},
        {"endpoint": SURROGATE},
        {"model": "gpt-image-2", "endpoint": "images", "tier": SURROGATE},
        {"model": "gpt-image-2", "endpoint": "images", "tier": f"1K{NUL}"},
    ],
)
def test_verify_with_hostile_text_is_a_400(internal, funded_key, extra):
    _key, plaintext = funded_key
    body = {"key": plaintext, **extra}
    response = internal.post(
        "/internal/v1/keys/verify", data=json.dumps(body), content_type="application/json"
    )
    assert_envelope(response, 400)


@pytest.mark.parametrize("key", [f"ck_{NUL}", f"ck_{SURROGATE}", "\ud800" * 10])
def test_verify_with_a_hostile_key_is_a_401(internal, key):
    response = internal.post(
        "/internal/v1/keys/verify",
        data=json.dumps({"key": key}),
        content_type="application/json",
    )
    assert_envelope(response, 401, "invalid_api_key")
