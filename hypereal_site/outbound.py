"""The one way the console fetches from the internet.

SAML metadata URLs, OIDC discovery, JWKS and token calls (and later the GPU webhooks) all go
through :func:`fetch` / :func:`fetch_json`. A URL that a customer typed must never let them
reach the console's own network, so every request:

- is ``https://`` (``http://`` only with ``ALLOW_PRIVATE_OUTBOUND``, for development and tests);
- resolves the host once, refuses it when **any** of its addresses is not public (private,
  loopback, link-local, multicast, reserved, unspecified, IPv4-mapped private…, v4 and v6), and
  connects to the address it checked — the TLS handshake still verifies the certificate for the
  host name — so a DNS answer that changes between the check and the connection (DNS
  rebinding) reaches nothing new;
- follows at most :data:`MAX_REDIRECTS` redirects of a GET, each target checked like the first
  URL (an https → http downgrade is refused);
- stops reading past ``max_bytes`` and after ``timeout`` seconds in all (connect + every read),
  so a slow-drip server cannot hold a worker.

Every failure is an :class:`OutboundError` whose ``reason`` is one of :data:`REASONS` and whose
message a person can read (it names the host, never the response body). The message is also
there as ``detail`` and ``params``, a code of ``hypereal_site.reasons`` and its parameters, for
callers that store it: a stored sentence would stay in the language of whoever fetched.

``ALLOW_PRIVATE_OUTBOUND`` (off by default, refused in production) also lets loopback and
private (RFC 1918, IPv6 ULA) addresses through, so an IdP on ``127.0.0.1`` or in a local
container can be reached. Link-local (cloud metadata services), multicast, reserved and
unspecified addresses are refused even then.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from hypereal_site.reasons import reason_text

REASONS = (
    "dns",
    "tls",
    "connect",
    "timeout",
    "status",
    "too_large",
    "scheme",
    "private_address",
    "json",
)
MAX_REDIRECTS = 3
DEFAULT_MAX_BYTES = 1_000_000
DEFAULT_TIMEOUT = 10.0
USER_AGENT = "Hypereal-Console/1 (+outbound)"
_CHUNK = 64 * 1024
_CREDENTIALS = {"authorization", "cookie", "proxy-authorization"}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_RFC1918_AND_ULA = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


class OutboundError(Exception):
    """A fetch that did not give a usable answer; ``reason`` says which step failed,
    ``detail`` and ``params`` which sentence says so (``hypereal_site.reasons``), and
    ``message`` is that sentence in the active language."""

    def __init__(
        self, reason: str, detail: str, params: dict | None = None, *, status: int | None = None
    ):
        assert reason in REASONS, reason
        self.reason = reason
        self.detail = detail
        self.params = dict(params or {})
        self.message = reason_text(detail, self.params)
        super().__init__(self.message)
        self.status = status

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class OutboundResponse:
    url: str  # the URL that answered (after redirects)
    status: int
    headers: dict[str, str] = field(repr=False)  # lower-case names
    body: bytes = field(repr=False)

    def json(self):
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OutboundError("json", "invalid_json", {"host": _host_of(self.url)}) from exc


def _host_of(url: str) -> str:
    return urlsplit(url).hostname or url


def _allow_private() -> bool:
    return bool(getattr(settings, "ALLOW_PRIVATE_OUTBOUND", False))


def address_refusal(ip: IPAddress, *, allow_private: bool | None = None) -> str | None:
    """Why ``ip`` may not be reached (a short phrase), or ``None`` when it may."""
    if allow_private is None:
        allow_private = _allow_private()
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:10.0.0.1 and the like reach the IPv4 address: judge that one.
        mapped = ip.ipv4_mapped or ip.sixtofour
        if mapped is None and ip in _NAT64:  # 64:ff9b::10.0.0.1 reaches 10.0.0.1
            mapped = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if mapped is not None:
            return address_refusal(mapped, allow_private=allow_private)
        if ip.teredo is not None:
            return "teredo"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_loopback:
        return None if allow_private else "loopback"
    if ip.is_private or not ip.is_global:
        # is_private covers RFC 1918, ULA, and the documentation/benchmark ranges; shared
        # address space (100.64/10) and the reserved ranges are neither private nor global.
        rfc1918_or_ula = any(ip in net for net in _RFC1918_AND_ULA if net.version == ip.version)
        if allow_private and rfc1918_or_ula:
            return None
        return "private" if rfc1918_or_ula else "reserved"
    return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise OutboundError("dns", "unresolvable", {"host": host}) from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise OutboundError("dns", "unresolvable", {"host": host})
    return addresses


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    path: str  # path + query
    ips: tuple[IPAddress, ...]  # every address the name resolved to, all checked


def check_url(url: str) -> _Target:
    """Refuse ``url`` unless it may be fetched; return the address to connect to."""
    if not isinstance(url, str) or "\x00" in url or any(c in url for c in "\r\n\t "):
        raise OutboundError("scheme", "invalid_url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundError("scheme", "invalid_url") from exc
    allowed = ("https", "http") if _allow_private() else ("https",)
    if parts.scheme not in allowed:
        raise OutboundError("scheme", "https_only")
    if parts.username is not None or parts.password is not None:
        raise OutboundError("scheme", "url_credentials")
    host = parts.hostname
    if not host:
        raise OutboundError("scheme", "invalid_url")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = _resolve(host, port)
    for ip in addresses:
        why = address_refusal(ip)
        if why is not None:
            raise OutboundError("private_address", "private_address", {"host": host, "why": why})
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(scheme=parts.scheme, host=host, port=port, path=path, ips=tuple(addresses))


def _pool(target: _Target, ip: IPAddress, timeout: urllib3.Timeout):
    ip = str(ip)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            ip,
            target.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            server_hostname=target.host,  # SNI
            assert_hostname=target.host,  # the certificate is checked against the name
        )
    return urllib3.HTTPConnectionPool(ip, target.port, timeout=timeout, retries=False, maxsize=1)


def _host_header(target: _Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    default = 443 if target.scheme == "https" else 80
    return host if target.port == default else f"{host}:{target.port}"


def fetch(
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    expect_status: tuple[int, ...] = (200,),
) -> OutboundResponse:
    """Fetch ``url`` under the rules of this module; any failure is an OutboundError."""
    deadline = time.monotonic() + timeout
    for _hop in range(MAX_REDIRECTS + 1):
        target = check_url(url)
        response = _send(
            target,
            method=method,
            headers=headers,
            body=body,
            max_bytes=max_bytes,
            deadline=deadline,
        )
        if response.status in (301, 302, 303, 307, 308) and method == "GET":
            location = response.headers.get("location")
            if not location:
                break
            next_url = urljoin(url, location)
            if urlsplit(next_url).hostname != target.host:
                # Credentials are for the host they were given to.
                headers = {
                    k: v for k, v in (headers or {}).items() if k.lower() not in _CREDENTIALS
                }
            url = next_url
            continue
        break
    else:
        raise OutboundError("status", "too_many_redirects", {"host": target.host})
    if response.status not in expect_status:
        raise OutboundError(
            "status",
            "unexpected_status",
            {"host": target.host, "status": response.status},
            status=response.status,
        )
    return response


def fetch_json(url: str, **kwargs):
    """:func:`fetch`, then parse the body as JSON (failure reason ``json``)."""
    return fetch(url, **kwargs).json()


def _send(target, *, method, headers, body, max_bytes, deadline) -> OutboundResponse:
    request_headers = {
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
        **(headers or {}),
        "Host": _host_header(target),
    }
    # Each checked address in turn (an IPv6 answer first on a v4-only path, say), until one
    # accepts the connection; nothing but the checked addresses is ever dialled.
    for index, ip in enumerate(target.ips):
        last = index == len(target.ips) - 1
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timeout(target)
        pool = _pool(target, ip, urllib3.Timeout(connect=remaining, read=remaining))
        try:
            raw = pool.urlopen(
                method,
                target.path,
                body=body,
                headers=request_headers,
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
            break
        except NewConnectionError as exc:  # refused, unreachable (a ConnectTimeoutError too)
            pool.close()
            if not last:
                continue
            raise OutboundError("connect", "unreachable", {"host": target.host}) from exc
        except SSLError as exc:
            pool.close()
            raise OutboundError("tls", "tls_failed", {"host": target.host}) from exc
        except (ConnectTimeoutError, ReadTimeoutError, TimeoutError) as exc:
            pool.close()
            raise _timeout(target) from exc
        except (ProtocolError, urllib3.exceptions.HTTPError, OSError) as exc:
            pool.close()
            raise OutboundError("connect", "unreachable", {"host": target.host}) from exc
    try:
        declared = raw.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(target, max_bytes)
        chunks: list[bytes] = []
        size = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timeout(target)
            if raw.connection is not None and raw.connection.sock is not None:
                raw.connection.sock.settimeout(remaining)
            # read1: whatever one receive brings, so the deadline is checked between them.
            # Never decompressed (we ask for identity): no gzip bomb past max_bytes.
            chunk = raw.read1(min(_CHUNK, max_bytes + 1 - size), decode_content=False)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(target, max_bytes)
            chunks.append(chunk)
    except (ReadTimeoutError, TimeoutError) as exc:
        raise _timeout(target) from exc
    except (ProtocolError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise OutboundError("connect", "connection_broken", {"host": target.host}) from exc
    finally:
        raw.release_conn()
        pool.close()
    return OutboundResponse(
        url=f"{target.scheme}://{_host_header(target)}{target.path}",
        status=raw.status,
        headers={k.lower(): v for k, v in raw.headers.items()},
        body=b"".join(chunks),
    )


def _timeout(target: _Target) -> OutboundError:
    return OutboundError("timeout", "timed_out", {"host": target.host})


def _too_large(target: _Target, max_bytes: int) -> OutboundError:
    return OutboundError("too_large", "too_large", {"host": target.host, "limit": max_bytes})
