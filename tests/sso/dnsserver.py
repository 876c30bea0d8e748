"""A small authoritative DNS server on loopback for the verification tests, built with
dnspython's message API: it answers TXT questions from a dict the test controls.

``records[name] = ["value", …]`` publishes TXT records at ``name``; a name in ``servfail``
answers SERVFAIL; ``silent`` makes it drop every question (a timeout). Any other name is
NXDOMAIN. ``questions`` lists what was asked, to prove the look-up went through it.
"""

import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class FakeDnsServer:
    def __init__(self) -> None:
        self.records: dict[str, list[str]] = {}
        self.servfail: set[str] = set()
        self.silent = False
        self.questions: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-dns", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._sock.getsockname()
        return f"{host}:{port}"

    def publish(self, name: str, *values: str) -> None:
        self.records[name.lower().rstrip(".")] = list(values)

    def unpublish(self, name: str) -> None:
        self.records.pop(name.lower().rstrip("."), None)

    def start(self) -> "FakeDnsServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        self.questions.append((name, dns.rdatatype.to_text(question.rdtype)))
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in self.records:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT:
            quoted = [
                '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in self.records[name]
            ]
            response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", "TXT", quoted))
        return response

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            if self.silent:
                continue
            try:
                query = dns.message.from_wire(data)
            except Exception:  # noqa: S112 - a malformed packet gets no answer
                continue
            self._sock.sendto(self._answer(query).to_wire(), peer)
