"""``/api/api-usage``: shapes, exact sums, every filter, keyset pages, zones, tenants."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Sum

from billing.models import LedgerEntry
from orgs.permissions import Role
from tests.apikeys.factories import event, fund, join, key_make, personal, team
from tests.site.pages import in_org
from tests.usage.analytics import ev
from usage.models import UsageEvent

pytestmark = pytest.mark.django_db

LOG_FIELDS = {
    "id", "requestId", "createdAt", "keyId", "keyName", "endpoint", "model", "provider",
    "statusCode", "latencyMs", "inputTokens", "outputTokens", "images", "seconds", "clips",
    "requests", "costCredits",
}  # fmt: skip


def get(client, query: str = ""):
    response = client.get(f"/api/api-usage{query}")
    # Parse numbers as Decimal: the exact text the server wrote, no float in between.
    body = json.loads(response.content, parse_float=Decimal) if response.content else None
    return response, body


@pytest.fixture
def setup(user, client_for):
    org = personal(user)
    key, _ = key_make(org=org, actor=user, name="prod")
    other, _ = key_make(org=org, actor=user, name="batch")
    return user, org, key, other, client_for(user)


def test_shape_and_exact_sums(setup):
    _user, org, key, other, client = setup
    ev(key, cost=1234, model="gpt-5.5")
    ev(key, cost=2_000_000, model="flux-pro", endpoint="images", images=2)
    ev(other, cost=999_999_999_999, model="gpt-5.5")  # beyond a float's 15 digits once /1e6
    response, body = get(client, "?days=30&limit=1000")
    assert response.status_code == 200
    assert set(body) == {
        "logs", "costByModel", "topExpensiveRequests", "totals", "daily", "nextCursor",
    }  # fmt: skip
    assert all(set(row) == LOG_FIELDS for row in body["logs"])
    assert set(body["totals"]) >= {"requests", "inputTokens", "outputTokens", "costCredits",
                                   "costUsd"}  # fmt: skip
    assert body["nextCursor"] is None
    raw = response.content.decode()
    assert '"costCredits":0.001234' in raw
    assert '"costCredits":999999.999999' in raw
    db = UsageEvent.objects.filter(organization=org)
    total = db.aggregate(s=Sum("cost_microcredits"))["s"]
    assert body["totals"]["costCredits"] == Decimal(total).scaleb(-6)
    assert sum(r["costCredits"] for r in body["costByModel"]) == Decimal(total).scaleb(-6)
    assert sum(r["costCredits"] for r in body["daily"]) == Decimal(total).scaleb(-6)
    assert body["totals"]["costUsd"] == Decimal(total).scaleb(-8)
    assert body["totals"]["requests"] == db.count() == 3
    by_model = {
        r["model"]: (r["n"], r["s"])
        for r in db.values("model").annotate(n=Count("pk"), s=Sum("cost_microcredits"))
    }
    assert {r["model"]: (r["requests"], r["costCredits"] * 10**6) for r in body["costByModel"]} \
        == by_model  # fmt: skip
    assert [r["costCredits"] for r in body["topExpensiveRequests"]] == sorted(
        (r["costCredits"] for r in body["topExpensiveRequests"]), reverse=True
    )
    assert len(body["daily"]) in (30, 31)
    row = next(r for r in body["logs"] if r["keyName"] == "batch")
    assert row["keyId"] == other.public_id


def test_logs_newest_first_and_aggregates_cover_the_range(setup):
    _user, _org, key, _other, client = setup
    now = datetime.now(UTC)
    for i in range(5):
        ev(key, cost=10 * (i + 1), at=now - timedelta(hours=i))
    ev(key, cost=7, at=now - timedelta(days=40))  # outside 30 days
    _r, body = get(client, "?limit=2")
    times = [row["createdAt"] for row in body["logs"]]
    assert times == sorted(times, reverse=True) and len(times) == 2
    assert body["totals"]["requests"] == 5
    assert body["totals"]["costCredits"] == Decimal(150).scaleb(-6)
    assert len(body["topExpensiveRequests"]) == 5
    _r, body = get(client, "?days=60")
    assert body["totals"]["requests"] == 6


def test_every_filter(setup):
    _user, _org, key, other, client = setup
    ev(key, cost=100, model="a", endpoint="chat", status_code=200, latency_ms=10, request_id="r1")
    ev(key, cost=2_500_000, model="b", endpoint="images", status_code=404, latency_ms=500,
       request_id="r2")  # fmt: skip
    ev(other, cost=5_000, model="a", endpoint="chat", status_code=503, latency_ms=2000,
       request_id="r3")  # fmt: skip
    ev(other, cost=6_000, model="a", endpoint="chat", status_code=429, latency_ms=20,
       request_id="r4")  # fmt: skip

    def ids(query):
        response, body = get(client, query)
        assert response.status_code == 200, body
        return sorted(r["requestId"] for r in body["logs"])

    assert ids("") == ["r1", "r2", "r3", "r4"]
    assert ids(f"?key={other.public_id}") == ["r3", "r4"]
    assert ids("?model=a") == ["r1", "r3", "r4"]
    assert ids("?endpoint=images") == ["r2"]
    assert ids("?status=2xx") == ["r1"]
    assert ids("?status=4xx") == ["r2", "r4"]
    assert ids("?status=5xx") == ["r3"]
    assert ids("?status=429") == ["r4"]
    assert ids("?minLatencyMs=20&maxLatencyMs=500") == ["r2", "r4"]
    assert ids("?minCost=0.005") == ["r2", "r3", "r4"]
    assert ids("?maxCost=0.0051") == ["r1", "r3"]
    assert ids("?minCost=0.005&maxCost=0.006") == ["r3", "r4"]
    assert ids("?q=r3") == ["r3"]
    assert ids("?model=a&status=4xx") == ["r4"]
    _r, body = get(client, "?model=a&status=4xx")
    assert body["totals"]["requests"] == 1
    assert body["costByModel"] == [{"model": "a", "requests": 1,
                                    "costCredits": Decimal("0.006")}]  # fmt: skip


def test_custom_range_from_to(setup):
    _user, _org, key, _other, client = setup
    ev(key, at=datetime(2026, 3, 1, 12, tzinfo=UTC), request_id="in1")
    ev(key, at=datetime(2026, 3, 3, 23, 59, tzinfo=UTC), request_id="in2")
    ev(key, at=datetime(2026, 3, 4, 0, 0, tzinfo=UTC), request_id="out")
    _r, body = get(client, "?from=2026-03-01&to=2026-03-03")
    assert sorted(r["requestId"] for r in body["logs"]) == ["in1", "in2"]
    assert [d["date"] for d in body["daily"]] == ["2026-03-01", "2026-03-02", "2026-03-03"]


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0", "?limit=1001", "?limit=x", "?days=0", "?days=367", "?days=-1",
        "?from=2026-03-05&to=2026-03-01", "?status=3xy", "?status=1000", "?cursor=%%%",
        "?cursor=bm9wZQ", "?minCost=abc", "?minCost=0.0000001", "?from=yesterday",
        "?days=3&from=2026-03-01", "?nosuch=1", "?from=2020-01-01&to=2026-01-01",
    ],
)  # fmt: skip
def test_bad_parameters_are_400_envelopes(setup, query):
    response, body = get(setup[4], query)
    assert response.status_code == 400
    assert body["error"]["type"] == "invalid_parameter"
    assert body["error"]["message"]


def test_keyset_pages_neither_repeat_nor_skip_while_events_arrive(setup):
    _user, _org, key, _other, client = setup
    base = datetime.now(UTC) - timedelta(hours=1)
    same = base - timedelta(minutes=5)
    for i in range(7):  # ties on occurred_at are broken by id
        ev(key, at=same, request_id=f"tie-{i}")
    for i in range(8):
        ev(key, at=base - timedelta(minutes=10 + i), request_id=f"old-{i}")
    expected = list(
        UsageEvent.objects.order_by("-occurred_at", "-pk").values_list("request_id", flat=True)
    )
    seen, cursor, pages = [], "", 0
    while True:
        _r, body = get(client, f"?limit=4&cursor={cursor}")
        seen += [r["requestId"] for r in body["logs"]]
        ev(key, request_id=f"new-{pages}")  # a request reported while the user pages
        pages += 1
        cursor = body["nextCursor"]
        if not cursor:
            break
    assert seen[: len(expected)] == expected  # the first page came before any newcomer
    assert len(seen) == len(set(seen)) == len(expected)
    assert pages == 4


def test_daily_buckets_in_the_viewers_zone_across_dst(setup):
    user, _org, key, _other, client = setup
    user.timezone = "Europe/Paris"
    user.save(update_fields=["timezone"])
    # 2026-03-29: Paris goes from UTC+1 to UTC+2 at 01:00 UTC.
    ev(key, cost=1, at=datetime(2026, 3, 28, 22, 30, tzinfo=UTC))  # 23:30 on the 28th
    ev(key, cost=10, at=datetime(2026, 3, 28, 23, 30, tzinfo=UTC))  # 00:30 on the 29th
    ev(key, cost=100, at=datetime(2026, 3, 29, 21, 59, tzinfo=UTC))  # 23:59 on the 29th
    ev(key, cost=1000, at=datetime(2026, 3, 29, 22, 0, tzinfo=UTC))  # 00:00 on the 30th
    _r, body = get(client, "?from=2026-03-28&to=2026-03-30")
    daily = {d["date"]: d["costCredits"] for d in body["daily"]}
    assert daily == {
        "2026-03-28": Decimal("0.000001"),
        "2026-03-29": Decimal("0.00011"),
        "2026-03-30": Decimal("0.001"),
    }


def test_daily_buckets_in_a_half_hour_zone(setup):
    user, _org, key, _other, client = setup
    user.timezone = "Asia/Kolkata"  # UTC+05:30
    user.save(update_fields=["timezone"])
    ev(key, cost=1, at=datetime(2026, 5, 1, 18, 29, tzinfo=UTC))  # 23:59 on the 1st
    ev(key, cost=2, at=datetime(2026, 5, 1, 18, 30, tzinfo=UTC))  # 00:00 on the 2nd
    _r, body = get(client, "?from=2026-05-01&to=2026-05-02")
    assert {d["date"]: d["costCredits"] for d in body["daily"]} == {
        "2026-05-01": Decimal("0.000001"),
        "2026-05-02": Decimal("0.000002"),
    }


def test_tenant_isolation(setup, client_for):
    user, _org, key, _other, client = setup
    stranger_org = team(user, "Elsewhere")
    stranger_key, _ = key_make(org=stranger_org, actor=user, name="theirs")
    ev(stranger_key, request_id="theirs-1")
    ev(key, request_id="mine-1")
    _r, body = get(client, "")
    assert [r["requestId"] for r in body["logs"]] == ["mine-1"]
    response, body = get(client, f"?key={stranger_key.public_id}")
    assert response.status_code == 404 and body["error"]["type"] == "not_found"
    # In the organization's context, only the organization's events.
    in_org(client, stranger_org)
    _r, body = get(client, "")
    assert [r["requestId"] for r in body["logs"]] == ["theirs-1"]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.DEVELOPER, Role.BILLING, Role.VIEWER])
def test_every_role_reads_usage(owner, client_for, role):
    org = team(owner)
    key, _ = key_make(org=org, actor=owner)
    ev(key, request_id="org-1")
    member = join(org, role)
    client = in_org(client_for(member), org)
    response, body = get(client, "")
    assert response.status_code == 200
    assert [r["requestId"] for r in body["logs"]] == ["org-1"]


def test_signed_out_is_401(client):
    response = client.get("/api/api-usage")
    assert response.status_code in (401, 403)
    assert "error" in response.json()


def test_sums_equal_the_ledgers_debits_for_ingested_events(owner, internal, client_for):
    """Events reported through the gateway's endpoint, then read at once (real time): the
    API's totals, costByModel and daily all equal the ledger's usage debits."""
    org = personal(owner)
    fund(org, 10_000)
    key, _ = key_make(org=org, actor=owner)
    batch = [
        event(key, model="gpt-5.5", input_tokens=1000 + i, output_tokens=7 * i) for i in range(5)
    ] + [event(key, model="claude-3-5-sonnet-20241022", endpoint="messages", input_tokens=3)]
    response = internal.post("/internal/v1/usage", {"events": batch}, format="json")
    assert response.status_code == 200 and response.json()["accepted"] == 6
    debits = -LedgerEntry.objects.filter(
        wallet__organization=org, kind=LedgerEntry.Kind.USAGE
    ).aggregate(s=Sum("amount_microcredits"))["s"]
    assert debits > 0
    _r, body = get(client_for(owner), "?days=1")
    exact = Decimal(debits).scaleb(-6)
    assert body["totals"]["costCredits"] == exact
    assert sum(r["costCredits"] for r in body["costByModel"]) == exact
    assert sum(r["costCredits"] for r in body["daily"]) == exact
    assert sum(r["costCredits"] for r in body["logs"]) == exact
    assert body["totals"]["requests"] == 6
