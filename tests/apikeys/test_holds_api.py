"""``/internal/v1/holds``: credits reserved for a long job, captured with its usage event
(charged once, by the capture), or released."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from apikeys import services
from apikeys.models import KeyMonthSpend
from billing.models import Hold, LedgerEntry, Wallet
from billing.selectors import ledger_mismatches
from usage.models import UsageEvent

from .factories import CREDIT, assert_envelope, event, fund, key_make, personal

pytestmark = pytest.mark.django_db

URL = "/internal/v1/holds"


@pytest.fixture
def key(owner):
    org = personal(owner)
    fund(org, 100)
    key, _ = key_make(org=org, actor=owner)
    return key


def wallet(key) -> Wallet:
    return Wallet.objects.get(organization=key.organization)


def place(internal, key, amount=30 * CREDIT, reference="job-1", **extra):
    body = {"key_id": key.public_id, "amount_microcredits": amount, "reference": reference}
    body.update(extra)
    return internal.post(URL, body, format="json")


def gpu_event(key, **overrides):
    fields = {
        "endpoint": "gpu",
        "model": "wan-video",
        "provider": "hypereal-gpu",
        "input_tokens": 0,
        "output_tokens": 0,
        "seconds": 12,
    }
    return event(key, **{**fields, **overrides})


def test_placing_a_hold(internal, key):
    response = place(internal, key, expires_in_seconds=600)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) >= {"hold_id", "expires_at", "available_microcredits"}
    assert body["available_microcredits"] == 70 * CREDIT
    assert body["amount_microcredits"] == 30 * CREDIT
    assert body["status"] == "open" and body["reference"] == "job-1"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(seconds=590) < expires - timezone.now() <= timedelta(seconds=600)
    hold = Hold.objects.get(public_id=body["hold_id"])
    assert hold.key_id == key.pk
    w = wallet(key)
    assert (w.balance_microcredits, w.held_microcredits) == (100 * CREDIT, 30 * CREDIT)


def test_the_same_reference_returns_the_same_hold(internal, key):
    first = place(internal, key).json()
    again = place(internal, key)
    assert again.status_code == 200
    assert again.json()["hold_id"] == first["hold_id"]
    assert wallet(key).held_microcredits == 30 * CREDIT
    assert Hold.objects.count() == 1
    assert_envelope(place(internal, key, amount=31 * CREDIT), 409, "idempotency_conflict")


def test_more_than_available_is_402(internal, key):
    place(internal, key, amount=80 * CREDIT, reference="big")
    error = assert_envelope(
        place(internal, key, amount=21 * CREDIT, reference="too-much"), 402, "insufficient_credits"
    )
    assert error["available_microcredits"] == 20 * CREDIT
    assert error["needed_microcredits"] == 21 * CREDIT
    assert Hold.objects.count() == 1
    assert place(internal, key, amount=20 * CREDIT, reference="fits").status_code == 201


def test_credits_reserved_by_calls_in_flight_are_not_available_to_a_hold(internal, key):
    plaintext = services.apikey_rotate(key=key, actor=key.created_by)[1]
    body = {"key": plaintext, "model": "audio-tts", "estimate": {"requests": 10}}  # 30 credits
    assert internal.post("/internal/v1/keys/verify", body, format="json").status_code == 200
    error = assert_envelope(place(internal, key, amount=71 * CREDIT), 402, "insufficient_credits")
    assert error["available_microcredits"] == 70 * CREDIT
    answer = place(internal, key, amount=70 * CREDIT, reference="fits")
    assert answer.status_code == 201, answer.content
    assert answer.json()["available_microcredits"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"key_id": "x", "amount_microcredits": 0, "reference": "r"},
        {"key_id": "x", "amount_microcredits": -5, "reference": "r"},
        {"key_id": "x", "amount_microcredits": "lots", "reference": "r"},
        {"key_id": "x", "amount_microcredits": 5},
        {"key_id": "x", "amount_microcredits": 5, "reference": "r", "expires_in_seconds": 0},
        {"key_id": "x", "amount_microcredits": 5, "reference": "r", "expires_in_seconds": 10**9},
    ],
)
def test_bad_hold_requests_are_400(internal, key, body):
    assert_envelope(internal.post(URL, body, format="json"), 400, "validation_error")
    assert Hold.objects.count() == 0


def test_an_unknown_or_revoked_key(internal, key, owner):
    assert_envelope(
        internal.post(
            URL,
            {"key_id": "nokey0000000", "amount_microcredits": 5, "reference": "r"},
            format="json",
        ),
        404,
        "unknown_key",
    )
    services.apikey_revoke(key=key, actor=owner)
    assert_envelope(place(internal, key), 401, "key_revoked")
    assert Hold.objects.count() == 0


def test_capture_with_the_jobs_event_charges_once(internal, key):
    hold_id = place(internal, key).json()["hold_id"]
    job = gpu_event(key)
    response = internal.post(
        f"{URL}/{hold_id}/capture",
        {"amount_microcredits": 24 * CREDIT, "event": job},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "captured" and body["captured_microcredits"] == 24 * CREDIT

    w = wallet(key)
    assert (w.balance_microcredits, w.held_microcredits) == (76 * CREDIT, 0)
    entries = LedgerEntry.objects.filter(wallet=w).exclude(kind=LedgerEntry.Kind.GRANT)
    (capture,) = entries
    assert capture.kind == LedgerEntry.Kind.HOLD_CAPTURE
    assert capture.amount_microcredits == -24 * CREDIT
    stored = UsageEvent.objects.get(request_id=job["request_id"])
    assert stored.cost_microcredits == 24 * CREDIT and stored.hold_public_id == hold_id
    assert stored.seconds == 12 and stored.model == "wan-video"
    period = timezone.now().strftime("%Y-%m")
    assert KeyMonthSpend.objects.get(key=key, period=period).spend_microcredits == 24 * CREDIT

    # The gateway also reports the event in a usage batch: a duplicate, charged nothing.
    replay = internal.post("/internal/v1/usage", {"events": [job]}, format="json").json()
    assert (replay["accepted"], replay["duplicates"], replay["charged_microcredits"]) == (0, 1, 0)
    assert not LedgerEntry.objects.filter(wallet=w, kind=LedgerEntry.Kind.USAGE).exists()
    assert wallet(key).balance_microcredits == 76 * CREDIT
    assert ledger_mismatches() == []

    # Twice is refused.
    assert_envelope(
        internal.post(f"{URL}/{hold_id}/capture", {"amount_microcredits": 1}, format="json"),
        409,
        "hold_already_resolved",
    )
    assert_envelope(internal.post(f"{URL}/{hold_id}/release"), 409, "hold_already_resolved")
    assert wallet(key).balance_microcredits == 76 * CREDIT


def test_capture_without_an_event_adds_to_the_key_spend(internal, key):
    hold_id = place(internal, key).json()["hold_id"]
    response = internal.post(
        f"{URL}/{hold_id}/capture", {"amount_microcredits": 5 * CREDIT}, format="json"
    )
    assert response.status_code == 200
    period = timezone.now().strftime("%Y-%m")
    assert KeyMonthSpend.objects.get(key=key, period=period).spend_microcredits == 5 * CREDIT
    assert wallet(key).balance_microcredits == 95 * CREDIT
    assert UsageEvent.objects.count() == 0


def test_capture_more_than_held_is_refused(internal, key):
    hold_id = place(internal, key).json()["hold_id"]
    assert_envelope(
        internal.post(
            f"{URL}/{hold_id}/capture", {"amount_microcredits": 31 * CREDIT}, format="json"
        ),
        400,
        "invalid_amount",
    )
    assert Hold.objects.get(public_id=hold_id).status == "open"
    assert wallet(key).balance_microcredits == 100 * CREDIT


@pytest.mark.parametrize(
    ("overrides", "error_type"),
    [
        ({"seconds": -1}, "invalid_event"),
        ({"model": "gpt-9-imaginary"}, "unknown_model"),
        ({"key_id": "nokey0000000"}, "unknown_key"),
        ({"occurred_at": "next week"}, "invalid_event"),
    ],
)
def test_capture_with_a_bad_event_is_a_400_and_leaves_the_hold_open(
    internal, key, overrides, error_type
):
    hold_id = place(internal, key).json()["hold_id"]
    response = internal.post(
        f"{URL}/{hold_id}/capture",
        {"amount_microcredits": 10 * CREDIT, "event": gpu_event(key, **overrides)},
        format="json",
    )
    assert_envelope(response, 400, error_type)
    assert Hold.objects.get(public_id=hold_id).status == "open"
    w = wallet(key)
    assert (w.balance_microcredits, w.held_microcredits) == (100 * CREDIT, 30 * CREDIT)
    assert UsageEvent.objects.count() == 0


def test_an_event_of_another_key_does_not_match_the_hold(internal, key, owner):
    other, _ = key_make(org=key.organization, actor=owner, name="other")
    hold_id = place(internal, key).json()["hold_id"]
    response = internal.post(
        f"{URL}/{hold_id}/capture",
        {"amount_microcredits": 1, "event": gpu_event(other)},
        format="json",
    )
    assert_envelope(response, 400, "unknown_key")
    assert Hold.objects.get(public_id=hold_id).status == "open"


def test_release_gives_the_credits_back(internal, key):
    hold_id = place(internal, key).json()["hold_id"]
    response = internal.post(f"{URL}/{hold_id}/release")
    assert response.status_code == 200
    assert response.json()["status"] == "released"
    assert response.json()["captured_microcredits"] == 0
    w = wallet(key)
    assert (w.balance_microcredits, w.held_microcredits) == (100 * CREDIT, 0)
    assert_envelope(internal.post(f"{URL}/{hold_id}/release"), 409, "hold_already_resolved")
    assert_envelope(
        internal.post(f"{URL}/{hold_id}/capture", {"amount_microcredits": 1}, format="json"),
        409,
        "hold_already_resolved",
    )


def test_an_unknown_hold_is_404(internal):
    assert_envelope(
        internal.post(f"{URL}/nohold/capture", {"amount_microcredits": 1}, format="json"),
        404,
        "not_found",
    )
    assert_envelope(internal.post(f"{URL}/nohold/release"), 404, "not_found")
