"""The pieces that keep verification cheap must not change what it answers: the machine
API's renderer writes exactly DRF's JSON, the answer is JSON whatever the caller accepts,
the per-process price memo never serves an old price, and reservation ids drawn from the
per-process random pool are never shared with a forked worker."""

import datetime
import json
import os
from decimal import Decimal

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from apikeys import reservations
from billing import catalog
from billing.models import CatalogModel
from hypereal_site.api.machine import MachineJSONRenderer
from tests.api.envelope import assert_envelope

from .factories import CREDIT
from .test_reservations import URL, make_key, verify

PAYLOADS = [
    {"a": 1, "b": [None, True, False, "é", "x\u2028y\u2029z"], "c": {"d": -(2**63)}},
    {"message": gettext_lazy("Invalid API key.")},  # a lazy translation: DRF writes it
    {"at": datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)},
    {"day": datetime.date(2026, 11, 29)},
    {"big": 10**30},  # beyond 64 bits
    {1: "a non-string key"},
    {"amount": Decimal("1.25")},
    {"f": 0.1},
    [1, "two", None],
    "a string",
    {},
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_the_machine_renderer_writes_exactly_what_drf_writes(payload):
    assert MachineJSONRenderer().render(payload) == JSONRenderer().render(payload)


def test_the_machine_renderer_writes_nothing_for_no_data():
    assert MachineJSONRenderer().render(None) == b""


@pytest.mark.django_db
def test_verify_answers_json_whatever_the_caller_accepts(internal, owner):
    _key, plaintext = make_key(owner)
    for accept in ("text/html", "application/xml", "*/*", "application/json"):
        response = internal.post(
            URL, json.dumps({"key": plaintext}), content_type="application/json", HTTP_ACCEPT=accept
        )
        assert response.status_code == 200, (accept, response.content)
        assert response["Content-Type"] == "application/json"
        assert response.json()["key"]["id"] == _key.public_id


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_still_a_415(internal, owner):
    _key, plaintext = make_key(owner)
    response = internal.post(URL, f"key={plaintext}", content_type="text/plain")
    assert response.status_code == 415
    assert_envelope(response, 415)


@pytest.mark.django_db
def test_a_price_change_is_reserved_at_the_new_price_at_once(internal, owner):
    _key, plaintext = make_key(owner, limit=500)
    first = verify(internal, plaintext, estimate={"requests": 2})
    assert first.status_code == 200, first.content
    reserved = first.json()["period_reserved_microcredits"]
    assert reserved == 2 * 3 * CREDIT  # audio-tts: 3 credits a request

    CatalogModel.objects.filter(model_id="audio-tts").update(unit_microcredits=5 * CREDIT)
    catalog.invalidate()
    second = verify(internal, plaintext, estimate={"requests": 2})
    assert second.status_code == 200, second.content
    assert second.json()["period_reserved_microcredits"] - reserved == 2 * 5 * CREDIT


@pytest.mark.django_db
def test_a_price_change_moves_the_minimum_balance_at_once(internal, owner):
    # 10 credits in the wallet: enough to start a 3-credit call, not a 20-credit one.
    _key, plaintext = make_key(owner, credits=10)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200

    CatalogModel.objects.filter(model_id="audio-tts").update(unit_microcredits=20 * CREDIT)
    catalog.invalidate()
    refused = verify(internal, plaintext, estimate={"requests": 1})
    assert refused.status_code == 402
    assert_envelope(refused, 402, "insufficient_credits")


def test_reservation_ids_are_unique_and_never_shared_with_a_forked_child():
    parent_before = set(reservations.new_ids(5))  # the pool now holds unused bytes
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the ids it draws go to the parent, then it leaves at once
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(reservations.new_ids(10)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    parent_after = reservations.new_ids(10)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    child = json.loads(b"".join(chunks))

    assert len(child) == 10 and len(parent_after) == 10
    everything = [*parent_before, *parent_after, *child]
    assert len(set(everything)) == len(everything)  # no id twice, within or across processes
    assert all(i.startswith("rsv_") and len(i) == 20 for i in everything)


def test_the_random_pool_refills_and_serves_large_requests():
    pool = reservations._RandomPool()
    seen = {pool.take(12) for _ in range(2 * pool.SIZE // 12)}  # crosses a refill
    assert len(seen) == 2 * pool.SIZE // 12
    assert len(pool.take(pool.SIZE + 1)) == pool.SIZE + 1
