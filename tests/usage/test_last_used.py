"""A key's "last used" is true: ingested usage moves it to the batch's latest event (one
write per key per batch, never backwards, never into the future), as verification does."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apikeys.models import ApiKey
from tests.apikeys.factories import event, fund, key_make, personal

pytestmark = pytest.mark.django_db

URL = "/internal/v1/usage"


def ingest(internal, events) -> dict:
    response = internal.post(URL, {"events": events}, format="json")
    assert response.status_code == 200, response.content[:600]
    return response.json()


def last_used(key):
    return ApiKey.objects.get(pk=key.pk).last_used_at


@pytest.fixture
def two_keys(owner):
    org = personal(owner)
    fund(org, 10_000)
    first, _ = key_make(org=org, actor=owner, name="first")
    second, _ = key_make(org=org, actor=owner, name="second")
    return first, second


def test_ingested_usage_sets_last_used_to_each_keys_latest_event(internal, two_keys):
    first, second = two_keys
    assert last_used(first) is None and last_used(second) is None
    now = timezone.now().replace(microsecond=0)
    times = {
        first: [now - timedelta(minutes=30), now - timedelta(minutes=5), now - timedelta(hours=2)],
        second: [now - timedelta(days=3)],
    }
    events = [event(k, occurred_at=t.isoformat()) for k, ts in times.items() for t in ts]
    assert ingest(internal, events)["accepted"] == 4
    assert last_used(first) == now - timedelta(minutes=5)
    assert last_used(second) == now - timedelta(days=3)


def test_an_older_batch_never_moves_last_used_backwards(internal, two_keys):
    key, _other = two_keys
    recent = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    ingest(internal, [event(key, occurred_at=recent.isoformat())])
    late_report = recent - timedelta(days=1)
    assert ingest(internal, [event(key, occurred_at=late_report.isoformat())])["accepted"] == 1
    assert last_used(key) == recent


def test_an_event_slightly_in_the_future_does_not_put_last_used_in_the_future(internal, two_keys):
    key, _other = two_keys
    ahead = timezone.now() + timedelta(seconds=120)  # within the allowed clock skew
    assert ingest(internal, [event(key, occurred_at=ahead.isoformat())])["accepted"] == 1
    assert last_used(key) is not None
    assert last_used(key) <= timezone.now()


def test_a_batch_writes_last_used_once_whatever_its_size(internal, two_keys):
    first, second = two_keys
    events = [event(first) for _ in range(40)] + [event(second) for _ in range(40)]
    with CaptureQueriesContext(connection) as queries:
        assert ingest(internal, events)["accepted"] == 80
    statements = [q["sql"].replace('"', "") for q in queries.captured_queries]
    writes = [
        sql
        for sql in statements
        if sql.startswith("UPDATE apikeys_apikey ") and "last_used_at" in sql
    ]
    assert len(writes) == 1, writes
    assert last_used(first) is not None and last_used(second) is not None


def test_a_rejected_or_duplicate_event_does_not_touch_last_used(internal, two_keys):
    key, _other = two_keys
    assert ingest(internal, [event(key, model="no-such-model")])["accepted"] == 0
    assert last_used(key) is None
    sent = event(key, occurred_at=(timezone.now() - timedelta(hours=1)).isoformat())
    ingest(internal, [sent])
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=None)
    assert ingest(internal, [sent])["duplicates"] == 1
    assert last_used(key) is None


def test_verification_never_moves_last_used_backwards(internal, funded_key):
    key, plaintext = funded_key
    ahead = timezone.now() + timedelta(minutes=10)  # e.g. written by a skewed clock
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=ahead)
    response = internal.post("/internal/v1/keys/verify", {"key": plaintext}, format="json")
    assert response.status_code == 200
    assert last_used(key) == ahead


def test_the_keys_page_shows_when_the_key_was_last_used(internal, owner, two_keys):
    key, _other = two_keys
    client = Client()
    client.force_login(owner)
    assert "never" in client.get(f"/manage-api-keys/{key.public_id}").content.decode().lower()
    ingest(internal, [event(key)])
    stored = last_used(key)
    page = client.get(f"/manage-api-keys/{key.public_id}").content.decode()
    assert stored.strftime("%Y-%m-%d %H:%M") in page
