#!/usr/bin/env python
"""Usage ingestion benchmark (docs/architecture.md "Performance targets").

Target: ≥ 20,000 events/s through ``POST /internal/v1/usage`` on PostgreSQL, in batches of
500, zero lost and zero doubled. The physical limit is measured in the same run: the same
rows COPYed straight into scratch copies of the two tables ingestion writes
(``usage_usageevent`` and the de-duplication table ``usage_usagerequest``, with their
indexes), one 500-row batch per transaction, from the same number of client threads.

    .venv/bin/python bench/ingest_throughput.py [--events 200000] [--threads 4]
    .venv/bin/python bench/ingest_throughput.py --compare [--rounds 2]

``--compare`` measures the monthly-partitioned table (the schema as migrated) against one
plain table with the same columns and indexes, in the same run: it runs this benchmark
alternately on DATABASE_URL and on a second database (its name + ``_plain``) whose
``usage_usageevent`` is rebuilt as a plain table (``--layout plain``), round by round, and
prints the medians side by side.

Needs PostgreSQL (``DATABASE_URL``, default
postgres://postgres@127.0.0.1:5432/hypereal_bench_ingest; created if missing, migrated)
and Redis (``REDIS_URL``, default redis://127.0.0.1:6379/9). The server is
``gunicorn hypereal_site.wsgi -w 2 --threads 1`` with ``bench.bench_settings``.
"""

import argparse
import json
import os
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import harness
import psycopg
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Sum

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/hypereal_bench_ingest"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"
GRANT_MICROCREDITS = 10**9 * 1_000_000  # far above what the run spends: no alerts, no 402
# (model, endpoint, share): token models on the endpoints they serve.
MIX = [
    ("gpt-5.5", "chat.completions", 50),
    ("gpt-5.4-mini", "responses", 20),
    ("claude-sonnet-4-6", "messages", 20),
    ("gemini-3.1-pro", "gemini", 10),
]
COPY_COLUMNS = (
    "request_id, occurred_at, organization_id, key_id, endpoint, model, provider, "
    "status_code, latency_ms, input_tokens, output_tokens, images, seconds, clips, "
    "requests, cost_microcredits, hold_public_id, recorded_at"
)


def fixtures(run: str, *, owners: int, keys_per_owner: int):
    """``owners`` organizations with funded wallets and ``keys_per_owner`` keys each."""
    from accounts.models import User  # noqa: PLC0415 — needs django.setup()
    from apikeys.services import apikey_create, service_token_create  # noqa: PLC0415 — needs django.setup()
    from billing.ledger import ledger_post, wallet_get_or_create  # noqa: PLC0415 — needs django.setup()
    from orgs.services import org_create, personal_org_get_or_create  # noqa: PLC0415 — needs django.setup()

    user = User.objects.create_user(f"bench-{run}@example.com", password=None)
    orgs = [personal_org_get_or_create(user=user)]
    for i in range(1, owners):  # the user owns them: keys without a cap are theirs to make
        orgs.append(org_create(actor=user, name=f"bench {run} {i}", slug=f"b-{run}-{i}"))
    keys = []
    for org in orgs:
        ledger_post(
            wallet=wallet_get_or_create(organization=org),
            amount_microcredits=GRANT_MICROCREDITS,
            kind="grant",
            idempotency_key=f"bench:{run}:{org.pk}:grant",
            description="bench funding",
        )
        for k in range(keys_per_owner):
            key, _plaintext = apikey_create(organization=org, actor=user, name=f"bench {k}")
            keys.append(key)
    _token, service_token = service_token_create(name=f"bench-{run}")
    return orgs, keys, service_token


def make_batches(
    run: str, keys, *, total: int, batch: int, duplicate_share: float, resend_lag: int = 0
):
    """``total`` events in batches of ``batch``; about ``duplicate_share`` of them are
    re-sends (same body) of an event from the same batch or one of the ten before it,
    so that concurrent batches overlap. With ``resend_lag`` N, a re-send from another
    batch comes from one at least N batches earlier (with N ≥ the client threads, a batch
    already answered, as a gateway re-sends after a timeout) instead. Returns (batches,
    unique events by request id)."""
    rng = random.Random(run)
    now = datetime.now(UTC)
    weights = [share for _m, _e, share in MIX]
    batches: list[list[dict]] = []
    unique: dict[str, dict] = {}
    n = 0
    while sum(len(b) for b in batches) < total:
        events: list[dict] = []
        size = min(batch, total - sum(len(b) for b in batches))
        while len(events) < size:
            if (batches or events) and rng.random() < duplicate_share:
                earlier = batches[-10 - resend_lag : len(batches) - resend_lag]
                if events and (not earlier or rng.random() < 0.2):
                    events.append(rng.choice(events))
                    continue
                if earlier:
                    events.append(rng.choice(rng.choice(earlier)))
                    continue
            model, endpoint, _share = rng.choices(MIX, weights)[0]
            key = rng.choice(keys)
            event = {
                "request_id": f"{run}-{n:07d}",
                "key_id": key.public_id,
                "occurred_at": (now - timedelta(seconds=rng.randint(1, 3600)))
                .isoformat()
                .replace("+00:00", "Z"),
                "endpoint": endpoint,
                "model": model,
                "provider": "bench",
                "status_code": 500 if rng.random() < 0.02 else 200,
                "latency_ms": rng.randint(80, 9000),
                "input_tokens": rng.randint(10, 8000),
                "output_tokens": rng.randint(1, 2000),
            }
            n += 1
            unique[event["request_id"]] = event
            events.append(event)
        batches.append(events)
    return batches, unique


def post_batches(server, bodies: list[bytes], *, token: str, threads: int):
    """POST every body from ``threads`` threads; returns (seconds, answers, failures)."""
    url = f"{server.base}/internal/v1/usage"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    work: queue.Queue[int] = queue.Queue()
    for i in range(len(bodies)):
        work.put(i)
    answers: list[dict | None] = [None] * len(bodies)
    failures: list[str] = []
    barrier = threading.Barrier(threads + 1)

    def client() -> None:
        barrier.wait()
        while True:
            try:
                i = work.get_nowait()
            except queue.Empty:
                return
            status, _headers, payload = harness.request(
                "POST", url, body=bodies[i], headers=headers
            )
            if status != 200:
                failures.append(f"batch {i}: HTTP {status} {payload[:300]!r}")
                continue
            answers[i] = json.loads(payload)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    return time.perf_counter() - started, answers, failures


def copy_limit(url: str, batches_rows: list[tuple[bytes, bytes]], *, threads: int) -> float:
    """The same rows COPYed into scratch copies of the two tables, one batch per
    transaction, from ``threads`` threads; returns the seconds taken."""
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("usage_usageevent", "usage_usagerequest"):
            conn.execute(f"DROP TABLE IF EXISTS bench_scratch_{table}")
            conn.execute(f"CREATE TABLE bench_scratch_{table} (LIKE {table} INCLUDING ALL)")
    work: queue.Queue[int] = queue.Queue()
    for i in range(len(batches_rows)):
        work.put(i)
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with psycopg.connect(url) as conn:
                barrier.wait()
                while True:
                    try:
                        i = work.get_nowait()
                    except queue.Empty:
                        return
                    events, request_ids = batches_rows[i]
                    with conn.transaction(), conn.cursor() as cur:
                        with cur.copy(
                            "COPY bench_scratch_usage_usagerequest (request_id, accepted_at) "
                            "FROM STDIN"
                        ) as copy:
                            copy.write(request_ids)
                        with cur.copy(
                            f"COPY bench_scratch_usage_usageevent ({COPY_COLUMNS}) FROM STDIN"
                        ) as copy:
                            copy.write(events)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    barrier.wait()
    started = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("usage_usageevent", "usage_usagerequest"):
            conn.execute(f"DROP TABLE bench_scratch_{table}")
    return elapsed


def copy_rows(batches, unique, keys_by_public_id) -> list[tuple[bytes, bytes]]:
    """Per batch, the COPY text of the rows the API stored for it (first sight of each
    request id, in batch order)."""
    seen: set[str] = set()
    out = []
    stamp = datetime.now(UTC).isoformat()
    for events in batches:
        event_lines, id_lines = [], []
        for e in events:
            rid = e["request_id"]
            if rid in seen:
                continue
            seen.add(rid)
            key = keys_by_public_id[e["key_id"]]
            event_lines.append(
                "\t".join(
                    str(v)
                    for v in (
                        rid,
                        e["occurred_at"],
                        key.organization_id,
                        key.pk,
                        e["endpoint"],
                        e["model"],
                        e["provider"],
                        e["status_code"],
                        e["latency_ms"],
                        e["input_tokens"],
                        e["output_tokens"],
                        0,
                        0,
                        0,
                        0,
                        12345,
                        "",
                        stamp,
                    )
                )
            )
            id_lines.append(f"{rid}\t{stamp}")
        out.append(
            (
                "".join(line + "\n" for line in event_lines).encode(),
                "".join(line + "\n" for line in id_lines).encode(),
            )
        )
    assert len(seen) == len(unique)
    return out


def check(run: str, orgs, keys, unique: dict, answers: list[dict], posted: int) -> list[str]:
    """Zero lost, zero doubled, money consistent. Returns the problems found."""
    from apikeys.models import KeyMonthSpend  # noqa: PLC0415 — needs django.setup()
    from billing.models import LedgerEntry, Wallet  # noqa: PLC0415 — needs django.setup()
    from usage.models import UsageEvent, UsageRequest  # noqa: PLC0415 — needs django.setup()

    problems = []
    events = UsageEvent.objects.filter(organization__in=orgs)
    stored = events.count()
    if stored != len(unique):
        problems.append(f"UsageEvent rows {stored} != unique request ids sent {len(unique)}")
    doubled = events.values("request_id").annotate(n=Count("id")).filter(n__gt=1).count()
    if doubled:
        problems.append(f"{doubled} request ids stored more than once")
    if set(events.values_list("request_id", flat=True)) != set(unique):
        problems.append("the stored request ids are not the ids sent")
    claimed = UsageRequest.objects.filter(request_id__startswith=f"{run}-").count()
    if claimed != len(unique):
        problems.append(f"de-duplication rows {claimed} != {len(unique)}")
    accepted = sum(a["accepted"] for a in answers)
    duplicates = sum(a["duplicates"] for a in answers)
    rejected = sum(len(a["rejected"]) for a in answers)
    charged = sum(a["charged_microcredits"] for a in answers)
    if accepted != len(unique) or duplicates != posted - len(unique) or rejected:
        problems.append(
            f"answers: accepted {accepted} (want {len(unique)}), duplicates {duplicates} "
            f"(want {posted - len(unique)}), rejected {rejected}"
        )
    total_cost = events.aggregate(s=Sum("cost_microcredits"))["s"] or 0
    if charged != total_cost:
        problems.append(f"charged_microcredits {charged} != sum of event costs {total_cost}")
    for org in orgs:
        cost = events.filter(organization=org).aggregate(s=Sum("cost_microcredits"))["s"] or 0
        wallet = Wallet.objects.get(organization=org)
        debits = (
            LedgerEntry.objects.filter(wallet=wallet, kind="usage").aggregate(
                s=Sum("amount_microcredits")
            )["s"]
            or 0
        )
        if cost != -debits or wallet.balance_microcredits != GRANT_MICROCREDITS - cost:
            problems.append(
                f"org {org.pk}: events cost {cost}, usage entries {debits}, "
                f"balance {wallet.balance_microcredits}"
            )
    for key in keys:
        cost = events.filter(key=key).aggregate(s=Sum("cost_microcredits"))["s"] or 0
        spend = (
            KeyMonthSpend.objects.filter(key=key).aggregate(s=Sum("spend_microcredits"))["s"] or 0
        )
        if cost != spend:
            problems.append(f"key {key.public_id}: events cost {cost}, month spend {spend}")
    try:
        call_command("ledger_check", verbosity=0)
    except Exception as exc:  # CommandError: the mismatches were printed on stderr
        problems.append(f"ledger_check: {exc}")
    return problems


def make_plain(url: str) -> bool:
    """Rebuild ``usage_usageevent`` as one plain table with the same columns, constraints,
    indexes and foreign keys as the partitioned one (``LIKE … INCLUDING ALL`` copies the
    partitioned indexes as ordinary ones). True when it was rebuilt, False when it was plain
    already. The migration history stays as it is (the code above it is the same)."""
    with psycopg.connect(url) as conn, conn.transaction():
        kind = conn.execute(
            "SELECT relkind FROM pg_class WHERE oid = 'usage_usageevent'::regclass"
        ).fetchone()[0]
        if kind != "p":
            return False
        conn.execute("LOCK TABLE usage_usageevent IN ACCESS EXCLUSIVE MODE")
        fks = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'usage_usageevent'::regclass AND contype = 'f'"
        ).fetchall()
        conn.execute("ALTER TABLE usage_usageevent RENAME TO bench_partitioned")
        conn.execute("CREATE TABLE usage_usageevent (LIKE bench_partitioned INCLUDING ALL)")
        conn.execute("INSERT INTO usage_usageevent SELECT * FROM bench_partitioned")
        conn.execute("DROP TABLE bench_partitioned")
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('usage_usageevent', 'id'), "
            "coalesce(max(id), 0) + 1, false) FROM usage_usageevent"
        )
        for name, definition in fks:
            conn.execute(f"ALTER TABLE usage_usageevent ADD CONSTRAINT {name} {definition}")
    return True


def compare(args) -> int:
    """Run this benchmark alternately on the partitioned and the plain database."""
    db = os.environ.get("DATABASE_URL", DEFAULT_DB)
    plain = db + "_plain"
    forwarded = [
        f"--{name}={getattr(args, name.replace('-', '_'))}"
        for name in ("events", "batch", "threads", "duplicates", "owners", "keys-per-owner")
    ] + [f"--workers={args.workers}"]
    if args.resend_lag is not None:
        forwarded.append(f"--resend-lag={args.resend_lag}")
    results: dict[str, list[dict]] = {"partitioned": [], "plain": []}
    for round_ in range(args.rounds):
        for layout, url in (("partitioned", db), ("plain", plain)):
            with open("/proc/loadavg") as f:
                load = f.read().split()[0]
            print(f"--- round {round_ + 1}, {layout} table (load {load})", flush=True)
            out = subprocess.run(
                [sys.executable, __file__, f"--layout={layout}", *forwarded],
                env={**os.environ, "DATABASE_URL": url},
                capture_output=True,
                text=True,
            )
            print(out.stdout, end="")
            print(out.stderr, end="", file=sys.stderr)
            line = [x for x in out.stdout.splitlines() if x.startswith("BENCH_RESULT ")]
            if out.returncode or not line:
                print(f"{layout} run failed (exit {out.returncode})")
                return 1
            result = json.loads(line[-1].removeprefix("BENCH_RESULT "))
            result["load"] = float(load)
            results[layout].append(result)
    print()
    print(f"{'median of ' + str(args.rounds) + ' rounds':38} {'partitioned':>12} {'plain':>12}")
    for name, label in (
        ("api_rate", "events/s through the HTTP API"),
        ("stored_rate", "rows/s stored by the API"),
        ("copy_rate", "rows/s by raw COPY (physical limit)"),
    ):
        a = statistics.median(r[name] for r in results["partitioned"])
        b = statistics.median(r[name] for r in results["plain"])
        print(f"{label:38} {a:12,.0f} {b:12,.0f}")
    ratio = statistics.median(r["api_rate"] for r in results["partitioned"]) / statistics.median(
        r["api_rate"] for r in results["plain"]
    )
    print(f"{'partitioned / plain (events/s)':38} {ratio:12.1%}")
    loads = [r["load"] for rs in results.values() for r in rs]
    print(f"load average (1 min) at the rounds' starts: {min(loads):.1f}–{max(loads):.1f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events posted in all")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--duplicates", type=float, default=0.05, help="share of re-sends")
    parser.add_argument(
        "--resend-lag",
        type=int,
        default=None,
        help="re-send only from batches at least this many earlier; default: --threads "
        "(batches already answered); 0: also from the batches in flight",
    )
    parser.add_argument("--owners", type=int, default=4)
    parser.add_argument("--keys-per-owner", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compare", action="store_true", help="partitioned vs plain table")
    parser.add_argument("--rounds", type=int, default=2, help="with --compare")
    parser.add_argument(
        "--layout",
        choices=("partitioned", "plain"),
        default="partitioned",
        help="plain: rebuild usage_usageevent as one plain table first",
    )
    args = parser.parse_args()
    if args.compare:
        return compare(args)

    env = harness.prepare(
        default_db=DEFAULT_DB, default_redis=DEFAULT_REDIS, cache_prefix="bench-ingest"
    )
    if env is None:
        return 2
    if args.layout == "plain" and make_plain(env["DATABASE_URL"]):
        print("usage_usageevent rebuilt as one plain table (same columns and indexes)")
    run = uuid.uuid4().hex[:10]
    orgs, keys, token = fixtures(run, owners=args.owners, keys_per_owner=args.keys_per_owner)
    lag = args.threads if args.resend_lag is None else args.resend_lag
    batches, unique = make_batches(
        run,
        keys,
        total=args.events,
        batch=args.batch,
        duplicate_share=args.duplicates,
        resend_lag=lag,
    )
    bodies = [json.dumps({"events": b}).encode() for b in batches]
    rows = copy_rows(batches, unique, {k.public_id: k for k in keys})
    posted = sum(len(b) for b in batches)
    pg_version = connection.pg_version
    connection.close()
    print(
        f"PostgreSQL {pg_version}, gunicorn -w {args.workers} --threads 1 (sync workers), "
        f"{os.cpu_count()} CPUs; {posted} events in {len(batches)} batches of {args.batch} "
        f"({posted - len(unique)} re-sends, {len(unique)} unique) over {len(keys)} keys of "
        f"{len(orgs)} owners, {args.threads} client threads; re-sends of "
        + (f"batches at least {lag} earlier" if lag else "batches possibly still in flight")
    )

    with harness.Gunicorn(env, workers=args.workers) as server:
        seconds, answers, failures = post_batches(server, bodies, token=token, threads=args.threads)
        failures += [f"server: {line[:500]}" for line in server.errors()]
    api_rate = posted / seconds
    stored_rate = len(unique) / seconds
    print(f"  API: {seconds:.2f} s, {api_rate:,.0f} events/s posted, {stored_rate:,.0f} stored/s")

    copy_seconds = copy_limit(env["DATABASE_URL"], rows, threads=args.threads)
    copy_rate = len(unique) / copy_seconds
    print(f"  COPY of the same rows: {copy_seconds:.2f} s, {copy_rate:,.0f} rows/s")

    problems = failures + (["some batches got no answer"] if None in answers else [])
    if not problems:
        problems = check(run, orgs, keys, unique, answers, posted)
    by_status = Counter(e["status_code"] for e in unique.values())
    by_model = defaultdict(int)
    for e in unique.values():
        by_model[e["model"]] += 1

    print()
    print(f"events/s through the HTTP API        {api_rate:10,.0f}   (target ≥ 20,000)")
    print(f"rows/s stored by the API             {stored_rate:10,.0f}")
    print(f"rows/s by raw COPY (physical limit)  {copy_rate:10,.0f}")
    print(f"ratio API stored / COPY              {stored_rate / copy_rate:10.1%}")
    print(f"failed upstream calls (cost 0)       {by_status[500]:10,}")
    print("zero lost, zero doubled, money exact  " + ("OK" if not problems else "FAILED"))
    for problem in problems[:20]:
        print("  " + problem)
    print("target                               " + ("met" if api_rate >= 20_000 else "NOT met"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'usage_usageevent'::regclass")
        layout = "partitioned" if cursor.fetchone()[0] == "p" else "plain"
    print(f"usage_usageevent: {layout} table")
    result = {"api_rate": api_rate, "stored_rate": stored_rate, "copy_rate": copy_rate}
    print("BENCH_RESULT " + json.dumps({**result, "layout": layout}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
