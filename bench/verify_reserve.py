#!/usr/bin/env python
"""Verification with a reservation, against plain verification and the floor, in one run.

Target: ``POST /internal/v1/keys/verify`` that reserves the call's worst case
(one Redis script: cap + wallet check and the reservation) reaches ≥ 80% of the throughput
of a trivial DRF endpoint in the same gunicorn; a revoked key is still refused by every
worker within 1 s.

    .venv/bin/python bench/verify_reserve.py [--seconds 6] [--rounds 3] [--connections 4]

Three bodies, rounds alternating: the floor (``/bench/trivial``); *plain* verify (no model:
nothing to price, nothing reserved; checked against the counters the worker last saw, or
by the script); *reserve* verify (a capped key, ``gpt-5.5`` with an estimate of 1,000
input and 1,000 output tokens: priced and reserved on every call, from the worker's lease
or by the script). Needs what bench/verify_throughput.py needs (PostgreSQL, Redis, wrk).
``--lease-calls 1`` runs the server without per-worker leases (every reserving call runs
the script; docs/inference-plane.md, "Leases"). ``VERIFY_LOCAL_CACHE_SECONDS=0.001`` in
the environment makes every worker's copy expire between calls: each verification then
takes the fused path (one script reserves and reads the shared entry).
"""

import argparse
import json
import os
import statistics
import sys
import uuid

import harness
import verify_throughput
from django.db import connection

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/hypereal_bench_verify"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"{one:.1f} (1 min) / {five:.1f} (5 min)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=6, help="per wrk round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--lease-calls",
        type=int,
        default=None,
        help="RESERVATION_LEASE_CALLS of the server (default: the settings'; 1: no leases)",
    )
    args = parser.parse_args()

    env = harness.prepare(
        default_db=DEFAULT_DB, default_redis=DEFAULT_REDIS, cache_prefix="bench-reserve"
    )
    if env is None:
        return 2
    if args.lease_calls is not None:
        env["RESERVATION_LEASE_CALLS"] = str(args.lease_calls)
    from apikeys.models import ApiKey  # noqa: PLC0415 — needs django.setup()

    run = uuid.uuid4().hex[:10]
    user, key, plaintext, service_token = verify_throughput.fixtures(run)
    # A cap far above what the run can spend: every call is checked and reserved.
    ApiKey.objects.filter(pk=key.pk).update(spending_limit_microcredits=10**6 * 1_000_000)
    connection.close()
    headers = {"Authorization": f"Bearer {service_token}"}
    plain = json.dumps({"key": plaintext})
    reserve = json.dumps(
        {
            "key": plaintext,
            "model": "gpt-5.5",
            "endpoint": "chat.completions",
            "estimate": {"input_tokens": 1000, "max_output_tokens": 1000},
        }
    )
    expect_key = f'"key":{{"id":"{key.public_id}"'
    cases = {
        "trivial": ("/bench/trivial", plain, '"ok":true'),
        "plain": ("/internal/v1/keys/verify", plain, expect_key),
        "reserve": ("/internal/v1/keys/verify", reserve, '"reservation_id":"rsv_'),
    }
    failures: list[str] = []
    from django.conf import settings  # noqa: PLC0415 — needs django.setup()

    leases = env.get("RESERVATION_LEASE_CALLS", settings.RESERVATION_LEASE_CALLS)
    print(
        f"Redis {env['REDIS_URL']}, gunicorn -w {args.workers} --threads 1, {os.cpu_count()} CPUs,"
        f" leases of {leases} call(s), load {_load()}"
    )
    rates: dict[str, list[float]] = {name: [] for name in cases}
    # On a shared, loaded machine two workers may take longer than 30 s to start.
    with harness.Gunicorn(env, workers=args.workers, start_seconds=180) as server:
        for _name, (path, body, expect) in cases.items():
            harness.wrk(
                server.base + path,
                body=body,
                headers=headers,
                expect=expect,
                seconds=2,
                connections=args.connections,
            )
        print(f"\nthroughput: wrk -t1 -c{args.connections} -d{args.seconds}s, rounds alternate")
        for r in range(args.rounds):
            line = []
            for name, (path, body, expect) in cases.items():
                res = harness.wrk(
                    server.base + path,
                    body=body,
                    headers=headers,
                    expect=expect,
                    seconds=args.seconds,
                    connections=args.connections,
                )
                if res.bad or res.errors:
                    failures.append(f"{name} round {r + 1}: {res.bad} bad answers {res.errors}")
                rates[name].append(res.rps)
                line.append(f"{name} {res.rps:7.0f} req/s ({res.bad} bad)")
            print(f"  round {r + 1}: " + "   ".join(line))

        print("\nrevocation: 4 pollers sending the reserving body, apikey_revoke() here")
        rev = verify_throughput.revocation(
            server,
            key=key,
            user=user,
            body=reserve.encode(),
            headers={**headers, "Content-Type": "application/json"},
        )
        if rev["wrong_answers"] or rev["stale_after_commit"]:
            failures.append(
                f"revocation: {rev['wrong_answers']} unexpected answers, "
                f"{rev['stale_after_commit']} stale 200s"
            )
        logged = server.errors()
        if logged:
            failures.append(f"{len(logged)} server errors, the last: {logged[-1][:2000]}")

    print(f"\nload at the end {_load()}")
    floor = statistics.median(rates["trivial"])
    plain_rps = statistics.median(rates["plain"])
    reserve_rps = statistics.median(rates["reserve"])
    everywhere = rev["everywhere_ms"]
    print()
    print(f"trivial DRF endpoint req/s (median)   {floor:8.0f}")
    print(f"plain verify req/s (median)           {plain_rps:8.0f}   {plain_rps / floor:6.1%}")
    print(f"verify + reservation req/s (median)   {reserve_rps:8.0f}   {reserve_rps / floor:6.1%}")
    print(f"reservation / plain verify            {reserve_rps / plain_rps:8.1%}")
    print(
        "revoked key refused everywhere after  "
        + (f"{everywhere:8.1f} ms" if everywhere is not None else "   never")
        + "   (target ≤ 1000 ms)"
    )
    print("correctness                           " + ("OK" if not failures else "FAILED"))
    for failure in failures:
        print("  " + failure)
    met = reserve_rps / floor >= 0.8 and everywhere is not None and everywhere <= 1000
    print("targets                               " + ("met" if met else "NOT met"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
