"""``POST /internal/v1/usage``: price, store, charge, count — each request id exactly once.
An invalid event is rejected alone with its reason; the rest of the batch is taken."""

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apikeys.models import KeyMonthSpend
from billing.models import LedgerEntry, Wallet
from billing.selectors import ledger_mismatches
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import (
    CREDIT,
    assert_envelope,
    balance,
    event,
    fund,
    key_make,
    personal,
    rid,
    team,
)
from usage.models import UsageEvent, UsageRequest

pytestmark = pytest.mark.django_db

URL = "/internal/v1/usage"


def post(internal, events):
    return internal.post(URL, {"events": events}, format="json")


def ingest(internal, events) -> dict:
    response = post(internal, events)
    assert response.status_code == 200, response.content[:600]
    body = response.json()
    assert set(body) == {"accepted", "duplicates", "rejected", "charged_microcredits"}
    return body


@pytest.fixture
def key(owner):
    org = personal(owner)
    fund(org, 10_000)
    key, _ = key_make(org=org, actor=owner)
    return key


def usage_entries(org):
    return LedgerEntry.objects.filter(wallet__organization=org, kind=LedgerEntry.Kind.USAGE)


def month_spend(key, period=None) -> int:
    period = period or datetime.now(UTC).strftime("%Y-%m")
    row = KeyMonthSpend.objects.filter(key=key, period=period).first()
    return row.spend_microcredits if row else 0


# Exact prices of the seeded catalog, one per family (credits per Mtok = µcr per token).
PRICED = [
    # chat: 1,000 × 125 + 500 × 1,000
    ({"model": "gpt-5.5", "input_tokens": 1000, "output_tokens": 500}, 625_000),
    # anthropic through a legacy alias: 2,000 × 300 + 100 × 1,500
    (
        {
            "model": "claude-3-5-sonnet-20241022",
            "endpoint": "messages",
            "input_tokens": 2000,
            "output_tokens": 100,
        },
        750_000,
    ),
    # gemini: 1,000 × 200 + 1,000 × 1,200
    (
        {
            "model": "gemini-3.1-pro",
            "endpoint": "gemini",
            "input_tokens": 1000,
            "output_tokens": 1000,
        },
        1_400_000,
    ),
    # codex on responses: 3 × 125 + 7 × 1,000
    (
        {"model": "gpt-5-codex", "endpoint": "responses", "input_tokens": 3, "output_tokens": 7},
        7_375,
    ),
    # images: 3 × 4 credits, and the 2K tier 3 × 8 credits
    (
        {
            "model": "gpt-image-2",
            "endpoint": "images",
            "images": 3,
            "input_tokens": 0,
            "output_tokens": 0,
        },
        12 * CREDIT,
    ),
    (
        {
            "model": "gpt-image-2",
            "endpoint": "images",
            "images": 3,
            "tier": "2K",
            "input_tokens": 0,
            "output_tokens": 0,
        },
        24 * CREDIT,
    ),
    # video per second, capped at the model's 15 s: 15 × 15 credits
    (
        {
            "model": "wan2.6",
            "endpoint": "videos",
            "seconds": 20,
            "input_tokens": 0,
            "output_tokens": 0,
        },
        225 * CREDIT,
    ),
    # video per clip: 2 × 100 credits
    (
        {
            "model": "veo3.1-fast",
            "endpoint": "videos",
            "clips": 2,
            "input_tokens": 0,
            "output_tokens": 0,
        },
        200 * CREDIT,
    ),
    # audio per request: 4 × 3 credits
    (
        {
            "model": "audio-tts",
            "endpoint": "audio",
            "requests": 4,
            "input_tokens": 0,
            "output_tokens": 0,
        },
        12 * CREDIT,
    ),
    # serverless GPU per request: 50 credits
    (
        {"model": "sdxl", "endpoint": "gpu", "requests": 1, "input_tokens": 0, "output_tokens": 0},
        50 * CREDIT,
    ),
]


@pytest.mark.parametrize(("fields", "cost"), PRICED, ids=[f["model"] for f, _ in PRICED])
def test_each_family_is_priced_exactly(internal, key, fields, cost):
    before = balance(key.organization)
    body = ingest(internal, [event(key, **fields)])
    assert body == {"accepted": 1, "duplicates": 0, "rejected": [], "charged_microcredits": cost}
    stored = UsageEvent.objects.get(key=key)
    assert stored.cost_microcredits == cost
    assert balance(key.organization) == before - cost
    assert month_spend(key) == cost


def test_a_batch_is_stored_charged_once_and_counted(internal, key):
    events = [event(key, **fields) for fields, _cost in PRICED]
    total = sum(cost for _fields, cost in PRICED)
    before = balance(key.organization)
    body = ingest(internal, events)
    assert body == {
        "accepted": len(events),
        "duplicates": 0,
        "rejected": [],
        "charged_microcredits": total,
    }
    assert UsageEvent.objects.filter(key=key).count() == len(events)
    (entry,) = usage_entries(key.organization)  # one ledger entry per wallet per batch
    assert entry.amount_microcredits == -total
    assert balance(key.organization) == before - total
    assert month_spend(key) == total
    stored = UsageEvent.objects.get(request_id=events[1]["request_id"])
    assert stored.model == "claude-sonnet-4-6"  # the canonical id, not the alias
    assert (stored.provider, stored.status_code, stored.latency_ms) == ("openai", 200, 840)
    assert ledger_mismatches() == []


def test_a_replayed_batch_is_all_duplicates_and_charges_nothing(internal, key):
    events = [event(key) for _ in range(5)]
    first = ingest(internal, events)
    assert first["accepted"] == 5 and first["charged_microcredits"] == 5 * 625_000
    after_first = balance(key.organization)
    again = ingest(internal, events)
    assert again == {"accepted": 0, "duplicates": 5, "rejected": [], "charged_microcredits": 0}
    # Half old, half new: only the new ones count.
    mixed = [*events[:2], event(key), event(key)]
    body = ingest(internal, mixed)
    assert (body["accepted"], body["duplicates"]) == (2, 2)
    assert body["charged_microcredits"] == 2 * 625_000
    assert balance(key.organization) == after_first - 2 * 625_000
    assert UsageEvent.objects.filter(key=key).count() == 7
    assert usage_entries(key.organization).count() == 2
    assert month_spend(key) == 7 * 625_000


def test_duplicates_inside_one_batch_count_once(internal, key):
    one = event(key)
    body = ingest(internal, [one, dict(one), event(key), dict(one)])
    assert (body["accepted"], body["duplicates"]) == (2, 2)
    assert body["charged_microcredits"] == 2 * 625_000


def test_failed_upstream_calls_are_stored_at_cost_zero(internal, key):
    before = balance(key.organization)
    body = ingest(
        internal,
        [
            event(key, status_code=502),
            event(key, status_code=429, model="gpt-image-2", endpoint="images", images=4),
            event(key, status_code=400),
        ],
    )
    assert body == {"accepted": 3, "duplicates": 0, "rejected": [], "charged_microcredits": 0}
    assert list(UsageEvent.objects.filter(key=key).values_list("cost_microcredits", flat=True)) == [
        0,
        0,
        0,
    ]
    assert balance(key.organization) == before
    assert usage_entries(key.organization).count() == 0
    assert month_spend(key) == 0


def _future():
    return (datetime.now(UTC) + timedelta(hours=1)).isoformat()


def _old():
    return (datetime.now(UTC) - timedelta(days=91)).isoformat()


def _without(key, name):
    body = event(key)
    del body[name]
    return body


BAD = [
    ("unknown key", lambda k: event(k, key_id="nokey0000000"), "unknown_key"),
    ("unknown model", lambda k: event(k, model="gpt-9-imaginary"), "unknown_model"),
    ("negative tokens", lambda k: event(k, input_tokens=-1), "invalid_event"),
    ("negative images", lambda k: event(k, images=-2), "invalid_event"),
    ("string count", lambda k: event(k, output_tokens="500"), "invalid_event"),
    ("float count", lambda k: event(k, output_tokens=1.5), "invalid_event"),
    ("bool count", lambda k: event(k, output_tokens=True), "invalid_event"),
    ("huge count", lambda k: event(k, output_tokens=2**60), "invalid_event"),
    ("future", lambda k: event(k, occurred_at=_future()), "occurred_at_in_future"),
    ("too old", lambda k: event(k, occurred_at=_old()), "occurred_at_too_old"),
    ("naive time", lambda k: event(k, occurred_at="2026-01-01T00:00:00"), "invalid_event"),
    ("not a time", lambda k: event(k, occurred_at="yesterday"), "invalid_event"),
    ("bad endpoint", lambda k: event(k, endpoint="teleport"), "invalid_event"),
    ("bad status", lambda k: event(k, status_code=99), "invalid_event"),
    (
        "unknown tier",
        lambda k: event(k, model="gpt-image-2", endpoint="images", images=1, tier="8K"),
        "invalid_event",
    ),
    ("no request_id", lambda k: _without(k, "request_id"), "invalid_event"),
    ("no key_id", lambda k: _without(k, "key_id"), "invalid_event"),
    ("no occurred_at", lambda k: _without(k, "occurred_at"), "invalid_event"),
    ("no endpoint", lambda k: _without(k, "endpoint"), "invalid_event"),
    ("no model", lambda k: _without(k, "model"), "invalid_event"),
    ("no status_code", lambda k: _without(k, "status_code"), "invalid_event"),
    ("request_id not a string", lambda k: event(k, request_id=123), "invalid_event"),
    ("request_id too long", lambda k: event(k, request_id="r" * 129), "invalid_event"),
    ("not an object", lambda k: "gpt-5.5,1000,500", "invalid_event"),
    ("a list", lambda k: [1, 2], "invalid_event"),
    ("null", lambda k: None, "invalid_event"),
]


@pytest.mark.parametrize(("label", "make", "error_type"), BAD, ids=[b[0] for b in BAD])
def test_an_invalid_event_is_rejected_alone(internal, key, label, make, error_type):
    good_before, good_after = event(key), event(key)
    bad = make(key)
    before = balance(key.organization)
    body = ingest(internal, [good_before, bad, good_after])
    assert body["accepted"] == 2 and body["duplicates"] == 0
    assert body["charged_microcredits"] == 2 * 625_000
    (rejection,) = body["rejected"]
    assert rejection["index"] == 1
    expected_rid = bad.get("request_id") if isinstance(bad, dict) else None
    assert rejection["request_id"] == (expected_rid if isinstance(expected_rid, str) else None)
    assert rejection["error"]["type"] == error_type
    assert rejection["error"]["message"]
    assert balance(key.organization) == before - 2 * 625_000
    assert set(UsageEvent.objects.values_list("request_id", flat=True)) == {
        good_before["request_id"],
        good_after["request_id"],
    }


def test_a_rejected_event_keeps_its_request_id_for_the_corrected_retry(internal, key):
    bad = event(key, model="gpt-9-imaginary")
    assert ingest(internal, [bad])["rejected"][0]["error"]["type"] == "unknown_model"
    assert not UsageRequest.objects.filter(request_id=bad["request_id"]).exists()
    fixed = dict(bad, model="gpt-5.5")
    assert ingest(internal, [fixed])["accepted"] == 1


def test_several_bad_events_are_reported_in_order(internal, key):
    body = ingest(
        internal,
        [event(key, model="nope"), event(key), "x", event(key, input_tokens=-5)],
    )
    assert [r["index"] for r in body["rejected"]] == [0, 2, 3]
    assert body["accepted"] == 1


def test_a_batch_spanning_two_owners_charges_each_wallet(internal, owner, key):
    other_owner = UserFactory()
    org = team(other_owner, "Globex")
    fund(org, 500)
    other, _ = key_make(org=org, actor=other_owner, name="globex")
    mine_before, theirs_before = balance(key.organization), balance(org)
    body = ingest(
        internal,
        [
            event(key),
            event(other, model="gpt-image-2", endpoint="images", images=2),
            event(key),
            event(other, model="audio-tts", endpoint="audio", requests=1),
        ],
    )
    assert body["accepted"] == 4
    assert body["charged_microcredits"] == 2 * 625_000 + 8 * CREDIT + 3 * CREDIT
    assert balance(key.organization) == mine_before - 2 * 625_000
    assert balance(org) == theirs_before - 11 * CREDIT
    assert usage_entries(key.organization).count() == 1
    assert usage_entries(org).count() == 1
    assert month_spend(key) == 2 * 625_000 and month_spend(other) == 11 * CREDIT
    assert set(UsageEvent.objects.filter(key=other).values_list("organization", flat=True)) == {
        org.pk
    }
    assert ledger_mismatches() == []


def test_usage_may_take_the_balance_below_zero(internal, owner):
    org = personal(owner)
    fund(org, 1)
    key, _ = key_make(org=org, actor=owner)
    body = ingest(internal, [event(key, model="veo3.1-fast", endpoint="videos", clips=1)])
    assert body["accepted"] == 1
    assert Wallet.objects.get(organization=org).balance_microcredits == (1 - 100) * CREDIT


def test_a_late_event_counts_in_its_own_month(internal, key):
    now = datetime.now(UTC)
    last_month = now.replace(day=1, hour=0, minute=0) - timedelta(days=1)  # ≤ 31 days ago
    ingest(internal, [event(key, occurred_at=last_month.isoformat())])
    assert month_spend(key, last_month.strftime("%Y-%m")) == 625_000


def test_the_batch_limit(internal, key):
    events = [event(key, input_tokens=1, output_tokens=0) for _ in range(1001)]
    error = assert_envelope(post(internal, events), 413, "batch_too_large")
    assert "1000" in error["message"]
    assert UsageEvent.objects.count() == 0 and UsageRequest.objects.count() == 0
    assert usage_entries(key.organization).count() == 0
    # Exactly 1000 is fine, and written in bulk: the number of queries does not grow
    # with the number of events.
    with CaptureQueriesContext(connection) as queries:
        body = ingest(internal, events[:1000])
    assert body["accepted"] == 1000 and body["charged_microcredits"] == 1000 * 125
    assert len(queries) < 40, len(queries)
    assert usage_entries(key.organization).count() == 1


@pytest.mark.parametrize(
    "body",
    [{}, {"events": "many"}, {"events": {"0": {}}}, {"event": []}, [], "events"],
)
def test_a_body_that_is_not_an_event_list_is_400(internal, body):
    assert_envelope(internal.post(URL, body, format="json"), 400, "invalid_request")


def test_times_may_use_z_or_an_offset(internal, key):
    now = datetime.now(UTC).replace(microsecond=0)
    body = ingest(
        internal,
        [
            event(key, occurred_at=now.strftime("%Y-%m-%dT%H:%M:%SZ")),
            event(key, occurred_at=now.astimezone(timezone(timedelta(hours=4))).isoformat()),
        ],
    )
    assert body["accepted"] == 2
    assert set(UsageEvent.objects.values_list("occurred_at", flat=True)) == {now}


def test_malformed_json_is_400(internal):
    response = internal.generic("POST", URL, '{"events": [', content_type="application/json")
    assert_envelope(response, 400, "invalid_request")


def test_an_empty_batch_is_fine(internal):
    assert ingest(internal, []) == {
        "accepted": 0,
        "duplicates": 0,
        "rejected": [],
        "charged_microcredits": 0,
    }


def test_request_ids_stay_unique_across_keys(internal, key, owner):
    other, _ = key_make(org=key.organization, actor=owner, name="second")
    shared = rid("shared")
    body = ingest(internal, [event(key, request_id=shared), event(other, request_id=shared)])
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert UsageEvent.objects.filter(request_id=shared).count() == 1


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    picks=st.lists(st.integers(min_value=0, max_value=11), min_size=1, max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=30), max_size=4),
)
def test_however_events_are_split_and_replayed_each_is_charged_once(internal, key, picks, cuts):
    """A property: any sequence of events (with repeats), cut into any batches, charges
    exactly the sum of the distinct events, and accepted + duplicates = events posted."""
    distinct = [event(key, input_tokens=i, output_tokens=i * 7) for i in range(12)]
    stream = [distinct[p] for p in picks]
    bounds = sorted({0, len(stream), *[c for c in cuts if c < len(stream)]})
    before = balance(key.organization)
    accepted = duplicates = charged = 0
    for start, end in itertools.pairwise(bounds):
        body = ingest(internal, stream[start:end])
        accepted += body["accepted"]
        duplicates += body["duplicates"]
        charged += body["charged_microcredits"]
    used = {p: distinct[p] for p in picks}
    expected = sum(e["input_tokens"] * 125 + e["output_tokens"] * 1000 for e in used.values())
    assert accepted == len(used)
    assert accepted + duplicates == len(stream)
    assert charged == expected == before - balance(key.organization)
