#!/usr/bin/env python
"""Key verification benchmark (docs/architecture.md "Performance targets").

Targets: ``POST /internal/v1/keys/verify`` reaches ≥ 80% of the throughput of a trivial
DRF endpoint in the same gunicorn server; p99 under 10 ms at 500 req/s; a revoked key is
refused by every worker within 1 s.

    .venv/bin/python bench/verify_throughput.py [--seconds 8] [--rounds 5] [--connections 4]

Needs PostgreSQL (``DATABASE_URL``, default
postgres://postgres@127.0.0.1:5432/hypereal_bench_verify; created if missing, migrated),
Redis (``REDIS_URL``, default redis://127.0.0.1:6379/9) and ``wrk`` (apt-get install wrk).
The server is ``gunicorn hypereal_site.wsgi -w 2 --threads 1`` with
``DJANGO_SETTINGS_MODULE=bench.bench_settings`` (which adds ``/bench/trivial``).
"""

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid

import harness
from django.db import connection

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/hypereal_bench_verify"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"


def fixtures(run: str):
    """A user with a funded personal wallet, one ck_ key, one svc_ token."""
    from accounts.models import User  # noqa: PLC0415 — needs django.setup()
    from apikeys.services import apikey_create, service_token_create  # noqa: PLC0415 — needs django.setup()
    from billing.ledger import ledger_post, wallet_get_or_create  # noqa: PLC0415 — needs django.setup()
    from orgs.services import personal_org_get_or_create  # noqa: PLC0415 — needs django.setup()

    user = User.objects.create_user(f"bench-{run}@example.com", password=None)
    org = personal_org_get_or_create(user=user)
    wallet = wallet_get_or_create(organization=org)
    ledger_post(
        wallet=wallet,
        amount_microcredits=10**6 * 1_000_000,  # a million credits: never the limit
        kind="grant",
        idempotency_key=f"bench:{run}:grant",
        description="bench funding",
    )
    key, plaintext = apikey_create(organization=org, actor=user, name=f"bench {run}")
    _token, service_token = service_token_create(name=f"bench-{run}")
    return user, key, plaintext, service_token


def revocation(server: harness.Gunicorn, *, key, user, body: bytes, headers: dict) -> dict:
    """Poll verify from several threads, revoke the key, and time until every worker
    refuses it. Returns the figures (times in ms from the start of the revoke call)."""
    from apikeys.services import apikey_revoke  # noqa: PLC0415 — needs django.setup()

    url = f"{server.base}/internal/v1/keys/verify"
    # (received, pid, status, error type, sent)
    seen: list[tuple[float, str, int, str, float]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            sent = time.perf_counter()
            status, resp_headers, payload = harness.request("POST", url, body=body, headers=headers)
            kind = ""
            if status != 200:
                kind = json.loads(payload).get("error", {}).get("type", "")
            with lock:
                seen.append(
                    (
                        time.perf_counter(),
                        resp_headers.get("X-Bench-Worker", "?"),
                        status,
                        kind,
                        sent,
                    )
                )

    pollers = [threading.Thread(target=poll) for _ in range(4)]
    for p in pollers:
        p.start()
    # Warm: every worker has answered 200 for this key.
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline:
        with lock:
            warm = {row[1] for row in seen if row[2] == 200}
        if len(warm) >= server.workers:
            break
        time.sleep(0.05)
    else:
        stop.set()
        raise RuntimeError(f"only workers {warm} answered during warm-up")
    time.sleep(0.2)
    # A throwaway key first, so that the measured call does not pay for first-use imports.
    from apikeys.services import apikey_create  # noqa: PLC0415 — needs django.setup()

    spare, _plaintext = apikey_create(organization=key.organization, actor=user, name="spare")
    apikey_revoke(key=spare, actor=user)
    t0 = time.perf_counter()
    apikey_revoke(key=key, actor=user)
    t_committed = time.perf_counter()
    time.sleep(1.5)
    stop.set()
    for p in pollers:
        p.join()

    after = [row for row in seen if row[0] >= t0]
    per_worker = {}
    for pid in sorted({row[1] for row in seen}):
        rows = [r for r in after if r[1] == pid]
        last_ok = max((r[0] for r in rows if r[2] == 200), default=t0)
        refused = [r for r in rows if r[0] > last_ok and r[2] == 401 and r[3] == "key_revoked"]
        per_worker[pid] = (min(r[0] for r in refused) - t0) * 1000 if refused else None
    wrong = [r for r in after if r[2] not in (200, 401) or (r[2] == 401 and r[3] != "key_revoked")]
    # Each worker may answer from its own copy for VERIFY_LOCAL_CACHE_SECONDS (0.5 s) after
    # the commit; a 200 to a request sent more than a second after it is a stale answer.
    stale = [r for r in after if r[2] == 200 and r[4] > t_committed + 1.0]
    return {
        "revoke_call_ms": (t_committed - t0) * 1000,
        "per_worker_ms": per_worker,
        "everywhere_ms": None
        if None in per_worker.values()
        else max(per_worker.values(), default=None),
        "stale_after_commit": len(stale),
        "wrong_answers": len(wrong),
        "polled": len(after),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8, help="per wrk round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--rate", type=int, default=500, help="fixed rate for latency, req/s")
    parser.add_argument("--rate-seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    env = harness.prepare(
        default_db=DEFAULT_DB, default_redis=DEFAULT_REDIS, cache_prefix="bench-verify"
    )
    if env is None:
        return 2

    run = uuid.uuid4().hex[:10]
    user, key, plaintext, service_token = fixtures(run)
    pg_version = connection.pg_version
    connection.close()  # nothing of ours holds a connection while the server is measured
    body = json.dumps({"key": plaintext, "model": "gpt-5.5", "endpoint": "chat.completions"})
    headers = {"Authorization": f"Bearer {service_token}"}
    expect_verify = f'"key":{{"id":"{key.public_id}"'
    failures: list[str] = []

    print(
        f"PostgreSQL {pg_version}, Redis {env['REDIS_URL']}, "
        f"gunicorn -w {args.workers} --threads 1 (sync workers), {os.cpu_count()} CPUs"
    )
    with harness.Gunicorn(env, workers=args.workers) as server:
        trivial_url = f"{server.base}/bench/trivial"
        verify_url = f"{server.base}/internal/v1/keys/verify"
        # Warm both paths (imports, connections, the verification and catalog caches).
        for url, expect in ((trivial_url, '"ok":true'), (verify_url, expect_verify)):
            harness.wrk(
                url,
                body=body,
                headers=headers,
                expect=expect,
                seconds=2,
                connections=args.connections,
            )

        print(f"\nthroughput: wrk -t1 -c{args.connections} -d{args.seconds}s, rounds alternate")
        trivial_rates, verify_rates = [], []
        for r in range(args.rounds):
            t = harness.wrk(
                trivial_url,
                body=body,
                headers=headers,
                expect='"ok":true',
                seconds=args.seconds,
                connections=args.connections,
            )
            v = harness.wrk(
                verify_url,
                body=body,
                headers=headers,
                expect=expect_verify,
                seconds=args.seconds,
                connections=args.connections,
            )
            for name, res in (("trivial", t), ("verify", v)):
                if res.bad or res.errors:
                    failures.append(f"{name} round {r + 1}: {res.bad} bad answers {res.errors}")
            trivial_rates.append(t.rps)
            verify_rates.append(v.rps)
            print(
                f"  round {r + 1}: trivial {t.rps:7.0f} req/s ({t.ok} ok, {t.bad} bad)   "
                f"verify {v.rps:7.0f} req/s ({v.ok} ok, {v.bad} bad)"
            )
        trivial_rps = statistics.median(trivial_rates)
        verify_rps = statistics.median(verify_rates)
        ratio = verify_rps / trivial_rps

        print(f"\nlatency: open loop, {args.rate} req/s for {args.rate_seconds} s each")
        rate_results = {}
        for name, url, expect in (
            ("trivial", trivial_url, b'"ok":true'),
            ("verify", verify_url, expect_verify.encode()),
        ):
            res = harness.fixed_rate(
                url,
                body=body.encode(),
                headers={**headers, "Content-Type": "application/json"},
                rate=args.rate,
                seconds=args.rate_seconds,
                check=lambda status, payload, expect=expect: status == 200 and expect in payload,
            )
            rate_results[name] = res
            if res.errors:
                failures.append(f"{name} at {args.rate} req/s: {res.errors} bad answers")
            print(
                f"  {name:8} achieved {res.achieved_rps:6.1f} req/s  "
                f"p50 {harness.percentile(res.latencies_ms, 50):6.2f} ms  "
                f"p99 {harness.percentile(res.latencies_ms, 99):6.2f} ms  "
                f"max {max(res.latencies_ms):7.2f} ms  statuses {res.statuses}  "
                f"late starts {res.late_starts}"
            )

        print("\nrevocation: 4 pollers on 2 warm workers, apikey_revoke() in this process")
        rev = revocation(
            server,
            key=key,
            user=user,
            body=body.encode(),
            headers={**headers, "Content-Type": "application/json"},
        )
        for pid, ms in rev["per_worker_ms"].items():
            print(
                f"  worker {pid}: refused {ms:.1f} ms after the revoke call started"
                if ms is not None
                else f"  worker {pid}: NOT refused within 1.5 s"
            )
        print(
            f"  revoke call {rev['revoke_call_ms']:.1f} ms; {rev['polled']} answers after it, "
            f"{rev['stale_after_commit']} 200s to requests sent over 1 s after it returned, "
            f"{rev['wrong_answers']} unexpected answers"
        )
        if rev["wrong_answers"] or rev["stale_after_commit"]:
            failures.append(
                f"revocation: {rev['wrong_answers']} unexpected answers, "
                f"{rev['stale_after_commit']} stale 200s"
            )
        logged = server.errors()
        if logged:
            failures.append(f"{len(logged)} server errors, the last: {logged[-1][:2000]}")

    verify_rate = rate_results["verify"]
    p50 = harness.percentile(verify_rate.latencies_ms, 50)
    p99 = harness.percentile(verify_rate.latencies_ms, 99)
    everywhere = rev["everywhere_ms"]
    print()
    print(f"trivial DRF endpoint req/s (median)   {trivial_rps:8.0f}")
    print(f"verify req/s (median)                 {verify_rps:8.0f}")
    print(f"ratio verify / trivial                {ratio:8.1%}   (target ≥ 80%)")
    print(f"verify p50 at {args.rate} req/s              {p50:8.2f} ms")
    print(f"verify p99 at {args.rate} req/s              {p99:8.2f} ms   (target < 10 ms)")
    print(
        "revoked key refused everywhere after  "
        + (f"{everywhere:8.1f} ms" if everywhere is not None else "   never")
        + "   (target ≤ 1000 ms)"
    )
    print("correctness                           " + ("OK" if not failures else "FAILED"))
    for failure in failures:
        print("  " + failure)
    met = ratio >= 0.8 and p99 < 10 and everywhere is not None and everywhere <= 1000
    print("targets                               " + ("met" if met else "NOT met"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
