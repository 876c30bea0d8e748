#!/usr/bin/env python
"""Usage export benchmark: ``GET /api/api-usage/export`` of a million events.

Goals: the export streams at ≥ 50% of the speed of ``psql \\copy`` of the same rows, and
the serving worker's peak memory stays under 200 MB. Both are measured in the same run:

1. Fixtures: a user, their personal organization, 4 API keys; then ``--rows`` usage events
   (default 1,000,000) spread over the last 29 days, written in one ``INSERT … SELECT
   generate_series`` (the benchmark's own set-up; ingestion is measured elsewhere),
   then ``ANALYZE``.
2. The server: ``gunicorn hypereal_site.wsgi -w 1`` (one sync worker, so its pid is known
   from the ``X-Bench-Worker`` header; timeout raised to 300 s for the long response).
3. Rounds alternate (medians reported):
   - **export**: the user's session GETs ``/api/api-usage/export?days=30`` (audit event,
     count, then the CSV stream) and reads it to the end in 1 MiB reads; the row count is
     checked against the database;
   - **psql, same statement**: ``psql -c "\\copy (<the export's own COPY query>) TO STDOUT"``
     into /dev/null — the same rows, formatted by the same SQL, with no HTTP or Python;
   - **psql, raw rows**: ``\\copy`` of the same rows and columns (the event joined to its
     key, same order) unformatted — the floor of reading those rows at all.
4. The worker's peak resident memory (``VmHWM`` of /proc/<pid>/status) after the exports,
   and its resident memory before the first one.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hypereal_bench_export \\
        .venv/bin/python bench/usage_export.py [--rows 1000000] [--rounds 3] [--reuse]

Needs PostgreSQL (created if missing, migrated), Redis (``REDIS_URL``, default
redis://127.0.0.1:6379/9) and ``psql``. Each run makes a new user and its rows (``--reuse``
exports the last run's rows again while they are all inside the 30 days); drop the database
to start afresh.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import harness
from django.db import connection

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/hypereal_bench_export"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"
SPAN = timedelta(days=29)  # inside the export's 30-day range


def fixtures(run: str, *, rows: int):
    from accounts.models import User  # noqa: PLC0415 — needs django.setup()
    from apikeys.services import apikey_create  # noqa: PLC0415 — needs django.setup()
    from orgs.services import personal_org_get_or_create  # noqa: PLC0415 — needs django.setup()
    from usage.partitions import usage_partitions_ensure  # noqa: PLC0415 — needs django.setup()

    user = User.objects.create_user(f"bench-export-{run}@example.com", password=None)
    org = personal_org_get_or_create(user=user)
    keys = [
        apikey_create(organization=org, actor=user, name=f"export key {i}")[0] for i in range(4)
    ]
    now = datetime.now(UTC)
    usage_partitions_ensure(start=now - SPAN - timedelta(days=1), end=now)
    step = SPAN.total_seconds() / rows
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO usage_usageevent (request_id, occurred_at, organization_id, key_id,
                endpoint, model, provider, status_code, latency_ms, input_tokens,
                output_tokens, images, seconds, clips, requests, cost_microcredits,
                hold_public_id, recorded_at)
            SELECT %(run)s || '-' || lpad(g::text, 8, '0'),
                   %(now)s - make_interval(secs => (%(rows)s - g + 1) * %(step)s),
                   %(org)s,
                   (%(keys)s::bigint[])[1 + g %% 4],
                   (ARRAY['chat.completions', 'responses', 'messages', 'gemini'])[1 + g %% 4],
                   (ARRAY['gpt-5.5', 'gpt-5.4-mini', 'claude-sonnet-4-6', 'gemini-3.1-pro'])
                       [1 + g %% 4],
                   'bench',
                   CASE WHEN g %% 50 = 0 THEN 500 ELSE 200 END,
                   80 + g %% 9000,
                   10 + g %% 8000,
                   1 + g %% 2000,
                   0, 0, 0, 0,
                   CASE WHEN g %% 50 = 0 THEN 0 ELSE 125 * (10 + g %% 8000) END,
                   '',
                   %(now)s
            FROM generate_series(1, %(rows)s) AS g
            """,
            {
                "run": run,
                "now": now,
                "rows": rows,
                "step": step,
                "org": org.pk,
                "keys": [k.pk for k in keys],
            },
        )
        cursor.execute("ANALYZE usage_usageevent")
    print(f"  {rows:,} rows written in {time.perf_counter() - started:.1f} s")
    return user, org


def previous(*, rows: int):
    """The latest earlier run's user and organization when all its rows are still inside
    the export's 30 days, else None."""
    from accounts.models import User  # noqa: PLC0415 — needs django.setup()
    from orgs.services import personal_org_get_or_create  # noqa: PLC0415 — needs django.setup()
    from usage.models import UsageEvent  # noqa: PLC0415 — needs django.setup()

    user = User.objects.filter(email__startswith="bench-export-").order_by("-pk").first()
    if user is None:
        return None
    org = personal_org_get_or_create(user=user)
    since = datetime.now(UTC) - timedelta(days=30)
    count = UsageEvent.objects.filter(organization=org, occurred_at__gte=since).count()
    if count != rows:
        return None
    print(f"  reusing the {rows:,} rows of {user.email}")
    return user, org


def session_cookie(user) -> str:
    from django.test import Client  # noqa: PLC0415 — needs django.setup()

    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def statements(org) -> tuple[str, str]:
    """The export's own COPY statement with its parameters inlined, and the raw rows' one."""
    from django.http import QueryDict  # noqa: PLC0415 — needs django.setup()

    from hypereal_site.csvstream import copy_statement  # noqa: PLC0415 — needs django.setup()
    from usage import selectors  # noqa: PLC0415 — needs django.setup()

    f = selectors.usage_filter_parse(organization=org, params=QueryDict("days=30"), tz="UTC")
    queryset = selectors.usage_events(f).order_by("occurred_at", "pk")
    statement, params = copy_statement(queryset, selectors.USAGE_CSV_COLUMNS)
    with connection.cursor() as cursor:
        formatted = cursor.mogrify(statement, params)
        raw = cursor.mogrify(
            "COPY (SELECT e.occurred_at, e.request_id, k.public_id, k.name, e.endpoint, "
            "e.model, e.provider, e.status_code, e.latency_ms, e.input_tokens, "
            "e.output_tokens, e.images, e.seconds, e.clips, e.requests, "
            "e.cost_microcredits, e.cost_microcredits "
            "FROM usage_usageevent e JOIN apikeys_apikey k ON k.id = e.key_id "
            "WHERE e.organization_id = %s AND e.occurred_at >= %s AND e.occurred_at < %s "
            "ORDER BY e.occurred_at, e.id) TO STDOUT (FORMAT csv)",
            [org.pk, f.start, f.end],
        )
    return formatted, raw


def psql_copy(url: str, copy: str) -> float:
    """Seconds for psql to run ``copy`` as ``\\copy … TO STDOUT`` into /dev/null."""
    command = "\\copy " + copy.removeprefix("COPY ").replace("\n", " ")
    started = time.perf_counter()
    subprocess.run(
        ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


def export(base: str, cookie: str) -> tuple[float, int, int, int]:
    """GET the export and read it to the end: (seconds, bytes, lines, worker pid)."""
    import http.client  # noqa: PLC0415 — only here

    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
    started = time.perf_counter()
    conn.request("GET", "/api/api-usage/export?days=30", headers={"Cookie": cookie})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"export answered {response.status}: {response.read()[:500]!r}")
    size = lines = 0
    while block := response.read(1 << 20):
        size += len(block)
        lines += block.count(b"\n")
    elapsed = time.perf_counter() - started
    pid = int(response.getheader("X-Bench-Worker"))
    conn.close()
    return elapsed, size, lines, pid


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in kB."""
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    return found


def load() -> str:
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--reuse", action="store_true", help="export the rows of an earlier run if complete"
    )
    args = parser.parse_args()

    env = harness.prepare(
        default_db=DEFAULT_DB, default_redis=DEFAULT_REDIS, cache_prefix="bench-export"
    )
    if env is None:
        return 2
    run = uuid.uuid4().hex[:10]
    print(f"load average {load()} at the start; {os.cpu_count()} CPUs")
    found = previous(rows=args.rows) if args.reuse else None
    user, org = found or fixtures(run, rows=args.rows)
    cookie = session_cookie(user)
    formatted, raw = statements(org)
    url = env["DATABASE_URL"]
    connection.close()

    times: dict[str, list[float]] = {"export": [], "psql": [], "raw": []}
    loads = []
    problems = []
    with harness.Gunicorn(env, workers=1, timeout=300) as server:
        _warm, _size, _lines, pid = export_small(server.base, cookie)
        before = memory(pid)
        for round_ in range(args.rounds):
            loads.append(float(load()))
            seconds, size, lines, answered_by = export(server.base, cookie)
            if answered_by != pid:
                problems.append(f"round {round_ + 1}: another worker ({answered_by}) answered")
            if lines != args.rows + 1:
                problems.append(f"round {round_ + 1}: {lines - 1} rows exported, not {args.rows}")
            times["export"].append(seconds)
            times["psql"].append(psql_copy(url, formatted))
            times["raw"].append(psql_copy(url, raw))
            print(
                f"  round {round_ + 1} (load {loads[-1]}): export {seconds:.2f} s "
                f"({size / seconds / 1e6:.1f} MB/s, {size / 1e6:.0f} MB), psql same "
                f"statement {times['psql'][-1]:.2f} s, psql raw rows {times['raw'][-1]:.2f} s"
            )
        after = memory(pid)
        problems += [f"server: {line[:500]}" for line in server.errors()]

    export_s = statistics.median(times["export"])
    psql_s = statistics.median(times["psql"])
    raw_s = statistics.median(times["raw"])
    rate = args.rows / export_s
    print()
    print(f"rows exported                         {args.rows:12,}")
    print(f"export over HTTP, s (median)          {export_s:12.2f}   ({rate:,.0f} rows/s)")
    print(f"psql \\copy, same statement, s         {psql_s:12.2f}")
    print(f"psql \\copy, raw rows, s               {raw_s:12.2f}")
    print(f"ratio export / psql same statement    {psql_s / export_s:12.1%}   (goal ≥ 50%)")
    print(f"ratio export / psql raw rows          {raw_s / export_s:12.1%}")
    print(f"worker RSS before the exports, MB     {before['VmRSS'] / 1024:12.1f}")
    print(f"worker peak RSS (VmHWM), MB           {after['VmHWM'] / 1024:12.1f}   (goal < 200)")
    print(f"load average (1 min) during rounds    {min(loads):.1f}–{max(loads):.1f}")
    for problem in problems:
        print("  " + problem)
    return 1 if problems else 0


def export_small(base: str, cookie: str):
    """A first request that warms the worker up (imports, connection) without the rows."""
    import http.client  # noqa: PLC0415 — only here

    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    conn.request("GET", "/api/api-usage?days=1&limit=1", headers={"Cookie": cookie})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"/api/api-usage answered {response.status}: {body[:500]!r}")
    pid = int(response.getheader("X-Bench-Worker"))
    conn.close()
    return 0.0, len(body), 0, pid


if __name__ == "__main__":
    sys.exit(main())
