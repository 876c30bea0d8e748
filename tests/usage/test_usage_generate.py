"""``usage_generate``: synthetic usage priced by the real catalog, claimed for dedupe,
never charged."""

import io
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from apikeys.models import ApiKey
from billing import catalog
from billing.models import LedgerEntry
from billing.pricing import Usage, price_microcredits
from tests.apikeys.factories import team
from usage.ingest import _claim_request_ids
from usage.models import UsageEvent, UsageRequest

pytestmark = pytest.mark.django_db


def generate(**options) -> str:
    out = io.StringIO()
    call_command("usage_generate", stdout=out, **options)
    return out.getvalue()


def test_generates_priced_spread_events_without_charging(owner):
    org = team(owner, "Load Test")
    entries = LedgerEntry.objects.count()
    output = generate(events=3000, days=10, keys=4, models=6, org=org.slug, seed=1)
    assert "3000 events" in output
    events = UsageEvent.objects.filter(organization=org)
    assert events.count() == 3000
    assert LedgerEntry.objects.count() == entries  # nothing posted
    keys = ApiKey.objects.filter(organization=org)
    assert sorted(keys.values_list("name", flat=True)) == [f"usage-gen-00{i}" for i in range(1, 5)]
    assert set(events.values_list("key__organization", flat=True)) == {org.pk}
    models = set(events.values_list("model", flat=True))
    assert len(models) == 6
    data = catalog.snapshot()
    assert models <= set(catalog.available_models(data))
    kinds = {data["models"][m]["pricing"] for m in models}
    assert len(kinds) == 5  # tokens, images, seconds, clips, requests
    statuses = Counter(e // 100 for e in events.values_list("status_code", flat=True))
    assert statuses[2] > 2600 and statuses[4] > 30 and statuses[5] > 10
    for e in events.order_by("?")[:200]:
        row = data["models"][e.model]
        assert e.endpoint in row["endpoints"]
        if e.status_code >= 400:
            assert e.cost_microcredits == 0
            continue
        usage = Usage(
            input_tokens=e.input_tokens, output_tokens=e.output_tokens, images=e.images,
            seconds=e.seconds, clips=e.clips, requests=e.requests,
        )  # fmt: skip
        if not row["tier_microcredits"]:
            assert e.cost_microcredits == price_microcredits(catalog.as_model(row), usage)
        assert e.cost_microcredits > 0
    days = {e.date() for e in events.values_list("occurred_at", flat=True)}
    assert len(days) >= 10


def test_request_ids_are_claimed_for_dedupe(owner):
    org = team(owner, "Claims")
    generate(events=500, days=2, keys=2, models=2, org=org.slug, seed=2)
    ids = list(UsageEvent.objects.values_list("request_id", flat=True))
    assert UsageRequest.objects.filter(request_id__in=ids).count() == 500
    assert _claim_request_ids(sorted(ids)[:10]) == set()  # ingestion would drop them


def test_runs_twice_and_reuses_its_keys(owner):
    org = team(owner, "Twice")
    generate(events=100, days=1, keys=3, models=2, org=org.slug)
    generate(events=100, days=1, keys=3, models=2, org=org.slug)
    assert UsageEvent.objects.count() == 200
    assert ApiKey.objects.filter(organization=org).count() == 3


def test_without_org_it_fills_a_demo_team(db):
    generate(events=50, days=1, keys=1, models=1)
    assert UsageEvent.objects.first().organization.slug == "usage-demo"


def test_refuses_bad_arguments(owner):
    with pytest.raises(CommandError):
        generate(events=10, days=91, keys=1, models=1)
    with pytest.raises(CommandError):
        generate(events=10, days=1, keys=1, models=1, org="no-such-org")
    with pytest.raises(CommandError, match="only"):
        generate(events=10, days=1, keys=1, models=100_000)
    assert not UsageEvent.objects.exists()
