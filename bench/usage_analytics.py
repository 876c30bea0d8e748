#!/usr/bin/env python
"""Usage analytics benchmark (docs/architecture.md, "Usage rollups").

Target: p95 < 300 ms for ``/usage`` and ``/api/api-usage?days=30&limit=1000`` (unfiltered,
and with a model + status filter) and for the 50th keyset page of the log, over 10M events
(90 days, 50 keys, 40 models, uniform spread: the rollups' worst case), served by
``gunicorn hypereal_site.wsgi -w 2 --threads 1``; and the rollup lag (an ingested event to
its bucket) with the beat interval of the settings.

    .venv/bin/python bench/usage_analytics.py [--events 10000000] [--samples 40]

The events are written by ``manage.py usage_generate`` into the demo team (only what is
missing: reruns reuse them), then the rollups are built by one ``rollup_refresh`` (timed).
The limits measured in the same run: a trivial endpoint of the same server (the floor of
any request), and the same API call answered from the raw events alone (the rollups
ignored, a few samples: what the rollups save).

Needs PostgreSQL (``DATABASE_URL``, default
postgres://postgres@127.0.0.1:5432/hypereal_bench_usage; created if missing, migrated) and
Redis (``REDIS_URL``, default redis://127.0.0.1:6379/9).
"""

import argparse
import os
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import harness
from django.core.management import call_command
from django.db import connection
from usage_server import PatientGunicorn

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/hypereal_bench_usage"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def session_cookie(org) -> str:
    """A signed-in session of the organization's owner, switched to the organization."""
    from django.conf import settings  # noqa: PLC0415 — needs django.setup()
    from django.test import Client  # noqa: PLC0415 — needs django.setup()

    from orgs.context import SESSION_KEY  # noqa: PLC0415 — needs django.setup()
    from orgs.models import Membership  # noqa: PLC0415 — needs django.setup()

    owner = Membership.objects.filter(organization=org, role="owner").first().user
    client = Client()
    client.force_login(owner)
    session = client.session
    session[SESSION_KEY] = org.public_id
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def timed(server, path: str, headers: dict, samples: int) -> list[float]:
    out = []
    for i in range(samples + 2):
        began = time.perf_counter()
        status, _headers, body = harness.request("GET", server.base + path, headers=headers)
        elapsed = (time.perf_counter() - began) * 1000
        if status != 200:
            raise RuntimeError(f"{path}: {status} {body[:300]!r}")
        if i >= 2:  # two warm-up requests
            out.append(elapsed)
    return out


def lag(org, *, samples: int, interval: float) -> list[float]:
    """Seconds from an ingested event's commit to its bucket, with a thread standing in
    for beat + worker: ``rollup_refresh`` every ``interval`` seconds."""
    from django.db import close_old_connections  # noqa: PLC0415 — needs django.setup()
    from django.db.models import Sum  # noqa: PLC0415 — needs django.setup()

    from apikeys.services import apikey_create  # noqa: PLC0415 — needs django.setup()
    from billing.ledger import ledger_post, wallet_get_or_create  # noqa: PLC0415 — needs django.setup()
    from orgs.models import Membership  # noqa: PLC0415 — needs django.setup()
    from usage import rollups  # noqa: PLC0415 — needs django.setup()
    from usage.ingest import usage_ingest  # noqa: PLC0415 — needs django.setup()
    from usage.models import UsageRollupKey  # noqa: PLC0415 — needs django.setup()

    owner = Membership.objects.filter(organization=org, role="owner").first().user
    run = uuid.uuid4().hex[:8]
    ledger_post(
        wallet=wallet_get_or_create(organization=org),
        amount_microcredits=10**6 * 1_000_000,
        kind="grant",
        idempotency_key=f"bench:usage:{run}",
        description="bench funding",
    )
    key, _ = apikey_create(
        organization=org, actor=owner, name=f"lag {run}", spending_limit_microcredits=None
    )
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            rollups.rollup_refresh()
            close_old_connections()
            stop.wait(interval)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    out = []
    try:
        for i in range(samples):
            time.sleep((i * 3.7) % interval)  # land at varied points of the beat cycle
            result = usage_ingest(
                events=[
                    {
                        "request_id": f"lag-{run}-{i}",
                        "key_id": key.public_id,
                        "occurred_at": datetime.now(UTC).isoformat(),
                        "endpoint": "chat.completions",
                        "model": "gpt-5.5",
                        "status_code": 200,
                        "input_tokens": 10,
                        "output_tokens": 10,
                    }
                ]
            )
            committed = time.monotonic()
            assert result["accepted"] == 1, result
            while True:
                seen = UsageRollupKey.objects.filter(key=key).aggregate(n=Sum("events"))["n"] or 0
                if seen > i:
                    out.append(time.monotonic() - committed)
                    break
                time.sleep(0.05)
    finally:
        stop.set()
        thread.join()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--raw-samples", type=int, default=3)
    parser.add_argument("--lag-samples", type=int, default=6)
    args = parser.parse_args()

    env = harness.prepare(
        default_db=DEFAULT_DB, default_redis=DEFAULT_REDIS, cache_prefix="bench-usage"
    )
    if env is None:
        return 2
    from django.conf import settings  # noqa: PLC0415 — needs django.setup()

    from orgs.models import Organization  # noqa: PLC0415 — needs django.setup()
    from usage import rollups, selectors  # noqa: PLC0415 — needs django.setup()
    from usage.management.commands.usage_generate import DEMO_SLUG  # noqa: PLC0415 — needs django.setup()
    from usage.models import UsageEvent, UsageRollup, UsageRollupKey, UsageRollupModel  # noqa: PLC0415 — needs django.setup()

    print(f"load before: {load()}")
    org = Organization.objects.filter(slug=DEMO_SLUG).first()
    have = UsageEvent.objects.filter(organization=org).count() if org else 0
    if have < args.events:
        began = time.monotonic()
        call_command(
            "usage_generate",
            events=args.events - have,
            days=args.days,
            keys=args.keys,
            models=args.models,
        )
        print(f"usage_generate: {args.events - have:,} events in {time.monotonic() - began:.0f} s")
        org = Organization.objects.get(slug=DEMO_SLUG)
    total = UsageEvent.objects.filter(organization=org).count()
    began = time.monotonic()
    result = rollups.rollup_refresh()
    print(
        f"rollup_refresh: {result.get('buckets', 0):,} buckets in {time.monotonic() - began:.1f} s "
        f"(load {load()})"
    )
    with connection.cursor() as cursor:
        for model in (UsageEvent, UsageRollup, UsageRollupKey, UsageRollupModel):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    print(
        f"rows: raw {total:,}; rollups by model {UsageRollupModel.objects.count():,}, "
        f"by key {UsageRollupKey.objects.count():,}, full {UsageRollup.objects.count():,}"
    )
    model = (
        UsageRollupModel.objects.filter(organization=org)
        .values_list("model", flat=True)
        .order_by("model")
        .first()
    )
    cookie = session_cookie(org)
    headers = {"Cookie": cookie}
    filtered = f"days=30&model={model}&status=2xx"
    with PatientGunicorn(env) as server:
        # The 50th page of the log: walk 49 cursors (50 rows a page, as /usage shows).
        cursor_ = ""
        for _ in range(49):
            _status, _h, body = harness.request(
                "GET",
                f"{server.base}/api/api-usage?days=30&limit=50"
                + (f"&cursor={cursor_}" if cursor_ else ""),
                headers=headers,
            )
            import json  # noqa: PLC0415 — only here

            cursor_ = json.loads(body)["nextCursor"]
        cases = [
            ("trivial endpoint (floor)", "/bench/trivial", {}),
            ("/usage?days=30", "/usage?days=30", headers),
            (f"/usage?{filtered}", f"/usage?{filtered}", headers),
            ("/api/api-usage?days=30&limit=1000", "/api/api-usage?days=30&limit=1000", headers),
            (
                f"/api/api-usage?{filtered}&limit=1000",
                f"/api/api-usage?{filtered}&limit=1000",
                headers,
            ),
            (
                "log page 50 (/usage load more)",
                f"/usage?days=30&cursor={cursor_}",
                {**headers, "HX-Request": "true"},
            ),
        ]
        print(f"\n{'case':58} {'p50 ms':>8} {'p95 ms':>8}   (n={args.samples}, load {load()})")
        figures = {}
        for name, path, hdrs in cases:
            values = timed(server, path, hdrs, args.samples)
            figures[name] = (harness.percentile(values, 50), harness.percentile(values, 95))
            print(f"{name:58} {figures[name][0]:8.1f} {figures[name][1]:8.1f}")
        print(f"load after: {load()}; server errors: {len(server.errors())}")

    # The same aggregates from the raw events alone, in this process (what rollups save).
    from zoneinfo import ZoneInfo  # noqa: PLC0415 — only here

    from django.utils import timezone  # noqa: PLC0415 — needs django.setup()

    f = selectors.UsageFilter(
        organization=org,
        start=timezone.now() - timedelta(days=30),
        end=timezone.now(),
        tz=ZoneInfo("UTC"),
    )
    original = selectors._rollup_shape
    for label, shape in (("rollups + tail", original), ("raw only", lambda f, group: None)):
        selectors._rollup_shape = shape
        values = []
        for _ in range(args.raw_samples if label == "raw only" else args.samples):
            began = time.perf_counter()
            selectors.usage_totals(f)
            selectors.usage_cost_by_model(f)
            selectors.usage_cost_by_key(f)
            selectors.usage_daily(f)
            values.append((time.perf_counter() - began) * 1000)
        p50 = harness.percentile(values, 50)
        print(f"aggregates of /api/api-usage?days=30, {label:15}: p50 {p50:8.1f} ms")
    selectors._rollup_shape = original

    # The 10 most expensive requests (no index ordered by cost: the buckets' maxima bound
    # the raw reads), in process, under filters the buckets know and ones they do not.
    key_id = UsageRollupKey.objects.filter(organization=org).values_list("key", flat=True)[0]
    from apikeys.models import ApiKey  # noqa: PLC0415 — needs django.setup()

    key = ApiKey.objects.get(pk=key_id)
    for label, fields in (
        ("unfiltered", {}),
        (f"model={model}", {"model": model}),
        ("status=5xx", {"status": "5xx"}),
        ("key", {"key": key}),
        (f"key + model={model}", {"key": key, "model": model}),
        ("minLatencyMs=2000", {"min_latency_ms": 2000}),
        ("maxCost=0.01", {"max_cost": 10_000}),
    ):
        top_f = selectors.UsageFilter(**{**f.__dict__, **fields})
        values = []
        for _ in range(args.samples // 2):
            began = time.perf_counter()
            selectors.usage_top_expensive(top_f)
            values.append((time.perf_counter() - began) * 1000)
        print(
            f"top 10 of 30 days, {label:28}: p50 {harness.percentile(values, 50):7.1f} ms, "
            f"p95 {harness.percentile(values, 95):7.1f} ms"
        )

    interval = settings.USAGE_ROLLUP_INTERVAL_SECONDS
    lags = lag(org, samples=args.lag_samples, interval=interval)
    print(
        f"\nrollup lag (beat every {interval:g} s, "
        f"settle {settings.USAGE_ROLLUP_SETTLE_SECONDS} s): min {min(lags):.1f} s, "
        f"median {sorted(lags)[len(lags) // 2]:.1f} s, max {max(lags):.1f} s "
        f"(n={len(lags)}; the pages include the event from its commit: the raw tail)"
    )
    worst = max(p95 for name, (_p50, p95) in figures.items() if "trivial" not in name)
    print(f"worst p95 {worst:.1f} ms: {'OK' if worst < 300 else 'ABOVE'} the 300 ms target")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
