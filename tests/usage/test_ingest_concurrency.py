"""Usage ingestion under real concurrency: several worker PROCESSES, each with its own
database connection, post overlapping batches at the same moment.

On PostgreSQL with Redis the workers are separate OS processes (tests/apikeys/worker.py)
released together; on SQLite (an in-memory test database no other process can open) the
same batches are posted one after another in this process. The assertions are the same.
"""

import random

import pytest
from django.core import mail

from apikeys.models import ApiKey, KeyAlert, KeyMonthSpend
from billing.models import LedgerEntry, Wallet
from billing.selectors import ledger_mismatches
from hypereal_site.models import SentEmail
from orgs.models import AuditEvent
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import (
    CREDIT,
    event,
    fund,
    join,
    key_make,
    personal,
    rid,
    service_client,
    team,
)
from tests.apikeys.processes import Worker, shared_backends
from usage.models import UsageEvent

pytestmark = pytest.mark.django_db(transaction=True)


def run_workers(token: str, batches_per_worker: list[list[list[dict]]]) -> list[dict]:
    """Each worker posts its batches; all start together. Returns, per worker, its
    results and the emails it sent."""
    if not shared_backends():
        answers = []
        client = service_client(token)
        for batches in batches_per_worker:
            sent_before = len(mail.outbox)
            results = []
            for batch in batches:
                response = client.post("/internal/v1/usage", {"events": batch}, format="json")
                results.append({"status": response.status_code, "body": response.json()})
            emails = [{"subject": m.subject, "to": m.to} for m in mail.outbox[sent_before:]]
            answers.append({"results": results, "emails": emails})
        return answers

    workers = [Worker() for _ in batches_per_worker]
    try:
        for worker, batches in zip(workers, batches_per_worker, strict=True):
            worker.send({"token": token, "usage": batches})
        for worker in workers:
            assert worker.read() == {"ready": True}
        for worker in workers:  # as close to "at once" as separate processes get
            worker.send("go")
        return [worker.read() for worker in workers]
    finally:
        for worker in workers:
            worker.close()


def chat_event(key, i: int) -> tuple[dict, int]:
    body = event(key, input_tokens=i, output_tokens=10 * i + 1)
    return body, i * 125 + (10 * i + 1) * 1000


def image_event(key, i: int) -> tuple[dict, int]:
    images = 1 + i % 3
    body = event(
        key, model="gpt-image-2", endpoint="images", images=images, input_tokens=0, output_tokens=0
    )
    return body, images * 4 * CREDIT


def test_overlapping_batches_charge_every_request_exactly_once(svc_token):
    alice, bob = UserFactory(), UserFactory()
    alice_org, bob_org = personal(alice), team(bob, "Globex")
    fund(alice_org, 10_000)
    fund(bob_org, 10_000)
    alice_key, _ = key_make(org=alice_org, actor=alice)
    bob_key, _ = key_make(org=bob_org, actor=bob, name="globex")

    pool, costs = [], {}
    for i in range(80):
        key = alice_key if i % 2 else bob_key
        body, cost = (chat_event if i % 3 else image_event)(key, i)
        pool.append(body)
        costs[body["request_id"]] = (key.pk, cost)

    plan, posted = [], 0
    for w in range(4):
        mine = pool[w * 15 : w * 15 + 35]  # overlaps its neighbours by 20
        mine = mine + mine[:5]  # and repeats some of its own
        random.Random(w).shuffle(mine)
        plan.append([mine[0:14], mine[14:27], mine[27:]])
        posted += len(mine)

    answers = run_workers(svc_token, plan)

    results = [r for a in answers for r in a["results"]]
    assert all(r["status"] == 200 for r in results), results
    bodies = [r["body"] for r in results]
    assert all(b["rejected"] == [] for b in bodies)
    assert sum(b["accepted"] for b in bodies) == 80
    assert sum(b["duplicates"] for b in bodies) == posted - 80
    expected = {alice_key.pk: 0, bob_key.pk: 0}
    for key_pk, cost in costs.values():
        expected[key_pk] += cost
    assert sum(b["charged_microcredits"] for b in bodies) == sum(expected.values())

    stored = list(UsageEvent.objects.values_list("request_id", flat=True))
    assert sorted(stored) == sorted(costs)  # every id once, none lost
    for org, key in ((alice_org, alice_key), (bob_org, bob_key)):
        wallet = Wallet.objects.get(organization=org)
        assert wallet.balance_microcredits == 10_000 * CREDIT - expected[key.pk]
        spend = KeyMonthSpend.objects.get(key=key).spend_microcredits
        assert spend == expected[key.pk]
        entries = LedgerEntry.objects.filter(wallet=wallet, kind=LedgerEntry.Kind.USAGE)
        assert sum(e.amount_microcredits for e in entries) == -expected[key.pk]
        assert entries.count() <= len(results)  # one per wallet per batch at most
    assert ledger_mismatches() == []


def test_cap_alerts_fire_exactly_once_when_batches_cross_together(svc_token):
    owner = UserFactory()
    org = team(owner)
    billing = join(org, "billing")
    developer = join(org, "developer")
    join(org, "viewer")
    fund(org, 10_000)
    key, _ = key_make(
        org=org, actor=developer, limit_credits=100, auto_disable=True, name="shared-cap"
    )
    # Every worker's batch alone takes the key from 0 past 100%.
    plan = []
    for _w in range(4):
        batch = [
            event(key, request_id=rid("cap"), input_tokens=0, output_tokens=40_000)
            for _ in range(3)
        ]  # 3 × 40 credits = 120
        plan.append([batch])

    answers = run_workers(svc_token, plan)

    bodies = [r["body"] for a in answers for r in a["results"]]
    assert [b["accepted"] for b in bodies] == [3, 3, 3, 3], bodies
    assert sorted(KeyAlert.objects.filter(key=key).values_list("level", flat=True)) == [80, 100]
    emails = [e for a in answers for e in a["emails"]]
    assert sorted(e["subject"] for e in emails) == [
        "[Hypereal] 80% of the spending limit used: key shared-cap",
        "[Hypereal] Spending limit reached: key shared-cap",
    ], emails
    assert all(
        sorted(e["to"]) == sorted([owner.email, billing.email, developer.email]) for e in emails
    )
    assert SentEmail.objects.filter(key__startswith="key-alert:").count() == 2
    assert ApiKey.objects.get(pk=key.pk).status == "disabled"
    assert AuditEvent.objects.filter(action="key.disabled", target_id=key.public_id).count() == 1
    assert KeyAlert.objects.get(key=key, level=100).key_disabled is True
    # Usage that happened is charged all the same.
    assert KeyMonthSpend.objects.get(key=key).spend_microcredits == 480 * CREDIT
    assert Wallet.objects.get(organization=org).balance_microcredits == (10_000 - 480) * CREDIT
    assert ledger_mismatches() == []
