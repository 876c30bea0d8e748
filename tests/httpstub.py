"""A tiny HTTP server on loopback for tests of outbound fetches: each route answers what the
test sets (status, headers, body, a delay, a drip), and every request is recorded."""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before answering
    drip: float = 0.0  # between body bytes (a slow-drip server)
    declare_length: bool = True  # False: no Content-Length, the body ends when we close


class HttpStub:
    def __init__(self, *, tls_context: ssl.SSLContext | None = None):
        self.routes: dict[str, Route] = {}
        self.requests: list[dict] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                route = stub.routes.get(self.path.split("?")[0], Route(status=404, body=b"nope"))
                time.sleep(route.delay)
                try:
                    self.send_response(route.status)
                    if route.declare_length:
                        headers = {"Content-Length": str(len(route.body)), **route.headers}
                    else:
                        headers = {"Connection": "close", **route.headers}
                        self.close_connection = True
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if route.drip:
                        for i in range(len(route.body)):
                            self.wfile.write(route.body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(route.drip)
                    else:
                        self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _answer

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = self.server.server_address[1]
        self.base_url = f"{scheme}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
