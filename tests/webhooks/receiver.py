"""A webhook receiver on loopback (a real HTTP server in a thread) that verifies every
delivery with the ``standardwebhooks`` library, as a customer's endpoint would.

Each request is answered by the next scripted ``Answer`` (the last one repeats); a request
whose signature does not verify is answered 401 and recorded as unverified.
"""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: dict[str, object]  # secret -> the parsed payload, for each secret that verified
    error: str = ""


class Receiver:
    def __init__(self, *, secrets: list[str] | None = None):
        self.secrets: list[str] = list(secrets or [])
        self.answers: list[Answer] = [Answer()]
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified, error = {}, ""
                for secret in receiver.secrets:
                    try:
                        verified[secret] = Webhook(secret).verify(body, headers)
                    except WebhookVerificationError as exc:
                        error = str(exc)
                with receiver._lock:
                    index = len(receiver.received)
                    receiver.received.append(
                        Received(self.path, headers, body, verified, "" if verified else error)
                    )
                    answer = receiver.answers[min(index, len(receiver.answers) - 1)]
                if receiver.secrets and not verified:
                    answer = Answer(status=401, body=b"bad signature")
                time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in {
                        "Content-Length": str(len(answer.body)),
                        **answer.headers,
                    }.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, *answers: Answer) -> None:
        self.received.clear()
        self.answers = list(answers)

    def wait_for(self, count: int, *, seconds: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(self.received) >= count:
                return self.received
            time.sleep(0.05)
        raise AssertionError(f"expected {count} deliveries, got {len(self.received)}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
