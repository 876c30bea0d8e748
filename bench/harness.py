"""Shared pieces of the HTTP benchmarks: database and Django set-up, a gunicorn server
started and stopped by pid, wrk, and an open-loop fixed-rate client.

Not a benchmark itself; imported by ``verify_throughput.py`` and ``ingest_throughput.py``.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django
import psycopg
from django.core.management import call_command
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SERVER_SETTINGS = "bench.bench_settings"


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` if it does not exist."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def server_env(*, database_url: str, redis_url: str, cache_prefix: str) -> dict[str, str]:
    """The environment shared by this process and the gunicorn server."""
    return {
        "DJANGO_SETTINGS_MODULE": SERVER_SETTINGS,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": cache_prefix,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }


def django_setup(env: dict[str, str]) -> None:
    """Set Django up in this process with the server's settings and migrate."""
    os.environ.update(env)
    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def prepare(*, default_db: str, default_redis: str, cache_prefix: str) -> dict[str, str] | None:
    """The common start of an HTTP benchmark: PostgreSQL from DATABASE_URL (created if
    missing), Redis from REDIS_URL, Django set up and migrated here. Returns the server's
    environment, or None (after saying why) when DATABASE_URL is not PostgreSQL."""
    db_url = os.environ.get("DATABASE_URL", default_db)
    redis_url = os.environ.get("REDIS_URL", default_redis)
    if not db_url.startswith(("postgres://", "postgresql://")):
        print("DATABASE_URL must point at PostgreSQL", file=sys.stderr)
        return None
    ensure_database(db_url)
    env = server_env(database_url=db_url, redis_url=redis_url, cache_prefix=cache_prefix)
    django_setup(env)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """``gunicorn hypereal_site.wsgi`` on a free port; stopped by the pid it started."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = 2,
        threads: int = 1,
        timeout: int = 30,
        start_seconds: float = 30,
    ) -> None:
        self.port = free_port()
        self.start_seconds = start_seconds  # how long the server may take to answer
        self.timeout = timeout  # gunicorn's: a sync worker silent this long is killed
        self.env = {**os.environ, **env}
        self.workers = workers
        self.threads = threads
        self.log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log")  # noqa: SIM115 - closed in __exit__
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "Gunicorn":
        gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
        self.proc = subprocess.Popen(
            [
                gunicorn or "gunicorn",
                "hypereal_site.wsgi",
                "-w",
                str(self.workers),
                "--threads",
                str(self.threads),
                "-b",
                f"127.0.0.1:{self.port}",
                "--chdir",
                str(ROOT),
                "--log-level",
                "warning",
                "--timeout",
                str(self.timeout),
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.start_seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{Path(self.log.name).read_text()}")
            try:
                status, _headers, _body = request("GET", f"{self.base}/bench/trivial")
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"gunicorn did not answer within {self.start_seconds} s")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def errors(self) -> list[str]:
        """The server's ERROR lines and tracebacks (4xx WARNING lines are expected)."""
        bad = []
        for line in Path(self.log.name).read_text().splitlines():
            try:
                level = json.loads(line).get("level", "")
            except ValueError:
                level = "ERROR" if "Traceback" in line or "Error" in line else ""
            if level in ("ERROR", "CRITICAL"):
                bad.append(line)
        return bad


def request(
    method: str, url: str, *, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        path = f"{parts.path}?{parts.query}" if parts.query else parts.path
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


# --- wrk -------------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{headers}
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0 end
function response(status, headers, body)
  if status == 200 and string.find(body, {expect}, 1, true) then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("BENCH ok=%d bad=%d\\n", o, b))
end
"""


def _lua(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal for ASCII text


@dataclass
class WrkResult:
    rps: float
    ok: int
    bad: int
    errors: str
    p50_ms: float
    p99_ms: float
    output: str = field(repr=False)


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}[unit]


def wrk(
    url: str,
    *,
    body: str,
    headers: dict[str, str],
    expect: str,
    seconds: int,
    connections: int,
    threads: int = 1,
) -> WrkResult:
    """POST ``body`` as fast as ``connections`` allow; every answer must be a 200 whose
    body contains ``expect`` (counted by the Lua script, reported as ok/bad)."""
    script = WRK_SCRIPT.format(
        body=_lua(body),
        headers="\n".join(f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items()),
        expect=_lua(expect),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                lua.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    if os.environ.get("BENCH_WRK_OUTPUT"):
        print(out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    ok, bad = map(int, re.search(r"BENCH ok=(\d+) bad=(\d+)", out).groups())
    errors = re.search(r"Socket errors:.*", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    error_text = (errors.group(0) if errors else "") + (
        f" non-2xx: {non2xx.group(1)}" if non2xx else ""
    )
    return WrkResult(
        rps=rps,
        ok=ok,
        bad=bad,
        errors=error_text.strip(),
        p50_ms=_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        p99_ms=_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        output=out,
    )


# --- an open-loop client at a fixed rate ------------------------------------------------


@dataclass
class FixedRateResult:
    latencies_ms: list[float]
    statuses: dict[int, int]
    errors: int
    achieved_rps: float
    late_starts: int  # requests that left more than 1 ms after their scheduled time


def fixed_rate(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    rate: float,
    seconds: float,
    threads: int = 32,
    check=None,
) -> FixedRateResult:
    """Send one request every ``1/rate`` s whatever the answers' speed (open loop), and
    time each from its *scheduled* start, so a stalled server shows in the latencies
    instead of silently lowering the rate (no coordinated omission). ``check(status,
    body)`` returns True when an answer is correct."""
    parts = urlsplit(url)
    total = int(rate * seconds)
    interval = 1.0 / rate
    latencies: list[float] = [0.0] * total
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    errors = [0]
    late = [0]
    start = time.perf_counter() + 0.2

    def worker(k: int) -> None:
        for i in range(k, total, threads):
            scheduled = start + i * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.001:
                with lock:
                    late[0] += 1
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                conn.request("POST", parts.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                status = response.status
                good = check(status, payload) if check else status == 200
            except OSError:
                status, good = 0, False
            finally:
                conn.close()
            latencies[i] = (time.perf_counter() - scheduled) * 1000
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if not good:
                    errors[0] += 1

    workers = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    return FixedRateResult(
        latencies_ms=latencies,
        statuses=statuses,
        errors=errors[0],
        achieved_rps=total / elapsed,
        late_starts=late[0],
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]
