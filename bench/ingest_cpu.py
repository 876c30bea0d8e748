#!/usr/bin/env python
"""Usage ingestion's CPU per batch: the Django process and its PostgreSQL backend.

``ingest_throughput.py`` measures events/s through gunicorn; on a shared or throttled VM
that figure swings by a third from run to run, and so does its physical limit. What one
batch costs in CPU does not: this posts the same kind of batches (500 events, 5% re-sends)
through Django's WSGI handler in this process, one after the other, and divides the CPU
time of the process (``time.process_time``) and of its PostgreSQL backend (``/proc/<pid>``,
the server on this machine) by the number of batches. Two cores spend at most 2 s of CPU
a second: ``1000 / (django + postgres) × 2 × 500`` events/s is the ceiling those costs
allow when nothing else runs, before the client, the WAL flushes and lock waits.

    .venv/bin/python bench/ingest_cpu.py [--batches 150] [--warm 10]

Same database and Redis defaults as ``ingest_throughput.py`` (it makes new owners each run).
"""

import argparse
import io
import json
import os
import statistics
import sys
import time
import uuid

import harness
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from ingest_throughput import DEFAULT_DB, DEFAULT_REDIS, fixtures, make_batches


def backend_cpu_seconds(pid: int) -> float:
    """utime + stime of a local process, from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def poster(app: WSGIHandler, token: str):
    def post(body: bytes) -> None:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/internal/v1/usage",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        status = []
        b"".join(app(environ, lambda s, h, exc_info=None: status.append(s)))
        if not status[0].startswith("200"):
            raise SystemExit(f"a batch was answered {status[0]}")

    return post


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=150, help="batches measured")
    parser.add_argument("--warm", type=int, default=10, help="batches posted first")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3, help="the median of this many")
    args = parser.parse_args()
    env = harness.prepare(
        default_db=DEFAULT_DB, default_redis=DEFAULT_REDIS, cache_prefix="bench-ingest"
    )
    if env is None:
        return 2
    run = uuid.uuid4().hex[:10]
    _orgs, keys, token = fixtures(run, owners=4, keys_per_owner=2)
    per_round = args.warm + args.batches
    batches, _unique = make_batches(
        run,
        keys,
        total=per_round * args.rounds * args.batch,
        batch=args.batch,
        duplicate_share=args.duplicates,
    )
    bodies = [json.dumps({"events": b}).encode() for b in batches]
    post = poster(WSGIHandler(), token)
    post(bodies[0])  # connects
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    rounds = []
    for r in range(args.rounds):
        chunk = bodies[r * per_round : (r + 1) * per_round]
        for body in chunk[: args.warm]:
            post(body)
        cpu, pg, wall = time.process_time(), backend_cpu_seconds(backend), time.perf_counter()
        for body in chunk[args.warm :]:
            post(body)
        n = len(chunk) - args.warm
        rounds.append(
            (
                (time.perf_counter() - wall) / n * 1000,
                (time.process_time() - cpu) / n * 1000,
                (backend_cpu_seconds(backend) - pg) / n * 1000,
            )
        )
        print(
            f"  round {r + 1}: wall {rounds[-1][0]:.1f} ms, Django {rounds[-1][1]:.1f} ms, "
            f"PostgreSQL {rounds[-1][2]:.1f} ms per batch"
        )
    wall, django_ms, pg_ms = (statistics.median(x[i] for x in rounds) for i in range(3))
    ceiling = 1000 / (django_ms + pg_ms) * os.cpu_count() * args.batch
    print()
    print(f"per batch of {args.batch} (median of {args.rounds} rounds of {args.batches})")
    print(f"  wall, one client                 {wall:8.1f} ms")
    print(f"  CPU of the Django process        {django_ms:8.1f} ms")
    print(f"  CPU of its PostgreSQL backend    {pg_ms:8.1f} ms")
    print(f"  ceiling on {os.cpu_count()} cores               {ceiling:8,.0f} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
