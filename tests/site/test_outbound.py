"""hypereal_site.outbound, the one way the console fetches from the internet: https and
public addresses only (checked after resolving, connected to as checked), redirects checked
hop by hop, size and time limits, and a reason for every failure."""

import datetime as dt
import ipaddress
import socket
import ssl
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hypereal_site import outbound
from hypereal_site.outbound import OutboundError
from tests.httpstub import HttpStub, Route


@pytest.fixture
def stub():
    server = HttpStub()
    yield server
    server.close()


@pytest.fixture
def loopback(settings):
    settings.ALLOW_PRIVATE_OUTBOUND = True


def _fails(reason, url, **kwargs) -> OutboundError:
    with pytest.raises(OutboundError) as caught:
        outbound.fetch(url, **kwargs)
    assert caught.value.reason == reason, caught.value.message
    assert str(caught.value)
    return caught.value


# --- Addresses ------------------------------------------------------------------------------

NEVER = [
    "0.0.0.0",  # noqa: S104 - an address to refuse, nothing binds to it
    "169.254.169.254",  # cloud metadata services
    "224.0.0.1",
    "255.255.255.255",
    "100.64.0.1",  # shared address space (carrier NAT)
    "240.0.0.1",
    "192.0.2.1",  # documentation
    "::",
    "fe80::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:169.254.169.254",
]
LOOPBACK_OR_PRIVATE = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::ffff:127.0.0.1",
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]


@pytest.mark.parametrize("address", NEVER + LOOPBACK_OR_PRIVATE)
def test_non_public_addresses_are_refused(address):
    assert outbound.address_refusal(ipaddress.ip_address(address), allow_private=False)


@pytest.mark.parametrize("address", NEVER)
def test_link_local_multicast_and_reserved_are_refused_even_with_the_setting(address):
    assert outbound.address_refusal(ipaddress.ip_address(address), allow_private=True)


@pytest.mark.parametrize("address", LOOPBACK_OR_PRIVATE)
def test_the_setting_lets_loopback_and_private_through(address):
    assert outbound.address_refusal(ipaddress.ip_address(address), allow_private=True) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert outbound.address_refusal(ipaddress.ip_address(address), allow_private=False) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/metadata",
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://[::ffff:192.168.0.1]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://0x7f000001/",  # 127.0.0.1 spelled in hex: resolved, then refused
    ],
)
def test_urls_at_non_public_addresses_are_refused_before_connecting(url, monkeypatch):
    monkeypatch.setattr(outbound, "_pool", _no_connection)
    _fails("private_address", url)


def _no_connection(*args, **kwargs):
    raise AssertionError("a refused address was connected to")


def _resolver(answers: dict[str, list[str]], calls: list[str]):
    def getaddrinfo(host, port, *args, **kwargs):
        try:  # the connection to an address "resolves" it too: no lookup, not counted
            ipaddress.ip_address(host)
            answers_here = {host: [host]}
        except ValueError:
            calls.append(host)
            answers_here = answers
        if host not in answers_here:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in answers_here[host]
        ]

    return getaddrinfo


def test_a_name_with_any_private_address_is_refused(monkeypatch):
    calls = []
    monkeypatch.setattr(
        socket, "getaddrinfo", _resolver({"idp.example.com": ["93.184.216.34", "10.0.0.5"]}, calls)
    )
    monkeypatch.setattr(outbound, "_pool", _no_connection)
    error = _fails("private_address", "https://idp.example.com/metadata")
    assert "idp.example.com" in error.message


def test_an_unknown_name_is_a_dns_failure(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _resolver({}, []))
    _fails("dns", "https://idp.corp.invalid/")


def test_the_checked_address_is_the_one_connected_to(stub, loopback, monkeypatch):
    """DNS rebinding: the name is resolved once; a second lookup (which would answer the
    metadata service) never happens, and the server still sees the name in Host."""
    calls = []
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        _resolver({"idp.rebind.test": ["127.0.0.1"]}, calls),
    )
    stub.routes["/x"] = Route(body=b"hello")
    response = outbound.fetch(f"http://idp.rebind.test:{stub.port}/x")
    assert response.body == b"hello"
    assert calls == ["idp.rebind.test"]
    assert stub.requests[-1]["headers"]["Host"] == f"idp.rebind.test:{stub.port}"


def test_a_dead_first_address_falls_back_to_the_next_checked_one(stub, loopback, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.2", 0))
    port = stub.port
    calls = []
    # ::1 first (nothing listens there on that port), then 127.0.0.1 where the stub is.
    monkeypatch.setattr(
        socket, "getaddrinfo", _resolver({"dual.test": ["::1", "127.0.0.1"]}, calls)
    )
    stub.routes["/"] = Route(body=b"ok")
    assert outbound.fetch(f"http://dual.test:{port}/").body == b"ok"
    closed.close()


# --- Scheme ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example.com/metadata",
        "ftp://idp.example.com/metadata",
        "file:///etc/passwd",
        "gopher://idp.example.com/",
        "javascript:alert(1)",
        "https:///no-host",
        "https://user:pass@idp.example.com/",
        "https://idp.example.com/\x00",
        "https://idp.example.com/\r\nX-Injected: 1",
        "https://idp.example.com:99999/",
        "",
    ],
)
def test_only_https_urls_are_fetched(url, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _no_connection)
    _fails("scheme", url)


def test_the_setting_allows_http_on_loopback(stub, loopback):
    stub.routes["/m"] = Route(body=b'{"a": 1}', headers={"Content-Type": "application/json"})
    assert outbound.fetch_json(stub.url("/m")) == {"a": 1}


def test_http_on_loopback_is_refused_without_the_setting(stub, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    _fails("scheme", stub.url("/m"))
    _fails("private_address", stub.url("/m").replace("http://", "https://"))


# --- Redirects ------------------------------------------------------------------------------


def test_redirects_are_followed_and_checked(stub, loopback):
    stub.routes["/a"] = Route(status=302, headers={"Location": "/b"})
    stub.routes["/b"] = Route(status=301, headers={"Location": stub.url("/c")})
    stub.routes["/c"] = Route(body=b"done")
    response = outbound.fetch(stub.url("/a"))
    assert response.body == b"done"
    assert response.url.endswith("/c")


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://[fe80::1]/", "private_address"),
        ("http://0.0.0.0/", "private_address"),
        ("file:///etc/passwd", "scheme"),
    ],
)
def test_a_redirect_to_a_refused_target_is_refused(stub, loopback, location, reason):
    stub.routes["/r"] = Route(status=302, headers={"Location": location})
    _fails(reason, stub.url("/r"))


def test_an_https_to_http_redirect_is_refused(settings, monkeypatch):
    """Without the setting a redirect to http:// is a downgrade and refused."""
    settings.ALLOW_PRIVATE_OUTBOUND = False
    target = outbound._Target(
        scheme="https",
        host="idp.example.com",
        port=443,
        path="/",
        ips=(ipaddress.ip_address("93.184.216.34"),),
    )
    answers = iter(
        [
            outbound.OutboundResponse(
                url="https://idp.example.com/",
                status=302,
                headers={"location": "http://idp.example.com/"},
                body=b"",
            )
        ]
    )
    real_check = outbound.check_url
    monkeypatch.setattr(
        outbound, "check_url", lambda url: real_check(url) if url.startswith("http:") else target
    )
    monkeypatch.setattr(outbound, "_send", lambda *a, **k: next(answers))
    _fails("scheme", "https://idp.example.com/")


def test_credentials_do_not_follow_a_redirect_to_another_host(stub, loopback):
    stub.routes["/a"] = Route(status=302, headers={"Location": f"http://localhost:{stub.port}/b"})
    stub.routes["/b"] = Route(body=b"ok")
    outbound.fetch(stub.url("/a"), headers={"Authorization": "Bearer s3cret", "X-Trace": "1"})
    first, second = stub.requests
    assert first["headers"]["Authorization"] == "Bearer s3cret"
    assert "Authorization" not in second["headers"]
    assert second["headers"]["X-Trace"] == "1"


def test_a_compressed_body_is_never_inflated(stub, loopback):
    import gzip  # noqa: PLC0415 - only this test compresses

    bomb = gzip.compress(b"{}" + b" " * 5_000_000)
    stub.routes["/gz"] = Route(body=bomb, headers={"Content-Encoding": "gzip"})
    response = outbound.fetch(stub.url("/gz"), max_bytes=100_000)
    assert response.body == bomb
    with pytest.raises(OutboundError) as caught:
        response.json()
    assert caught.value.reason == "json"


def test_endless_redirects_stop(stub, loopback):
    stub.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    _fails("status", stub.url("/loop"))
    assert len(stub.requests) == outbound.MAX_REDIRECTS + 1


def test_a_post_is_never_redirected(stub, loopback):
    stub.routes["/token"] = Route(status=307, headers={"Location": "/elsewhere"})
    error = _fails("status", stub.url("/token"), method="POST", body=b"code=1")
    assert error.status == 307
    assert [r["path"] for r in stub.requests] == ["/token"]


# --- Limits ---------------------------------------------------------------------------------


def test_a_declared_oversize_body_is_refused(stub, loopback):
    stub.routes["/big"] = Route(body=b"x" * 2000)
    _fails("too_large", stub.url("/big"), max_bytes=1000)
    assert outbound.fetch(stub.url("/big"), max_bytes=2000).body == b"x" * 2000


def test_an_undeclared_oversize_body_is_cut_off(stub, loopback):
    stub.routes["/big"] = Route(body=b"x" * 200_000, declare_length=False)
    _fails("too_large", stub.url("/big"), max_bytes=100_000)


def test_a_slow_server_times_out(stub, loopback):
    stub.routes["/slow"] = Route(body=b"late", delay=3)
    started = time.monotonic()
    _fails("timeout", stub.url("/slow"), timeout=0.5)
    assert time.monotonic() - started < 2


def test_a_slow_drip_is_bounded_by_the_total_timeout(stub, loopback):
    """Each byte arrives well within a read timeout; the whole body would take 10 s."""
    stub.routes["/drip"] = Route(body=b"x" * 200, drip=0.05)
    started = time.monotonic()
    _fails("timeout", stub.url("/drip"), timeout=1)
    assert time.monotonic() - started < 2.5


def test_a_closed_port_is_a_connect_failure(loopback):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _fails("connect", f"http://127.0.0.1:{port}/")


def test_an_error_status_is_a_status_failure(stub, loopback):
    stub.routes["/gone"] = Route(status=404, body=b"no")
    error = _fails("status", stub.url("/gone"))
    assert error.status == 404
    assert "404" in error.message


def test_a_body_that_is_not_json_is_a_json_failure(stub, loopback):
    stub.routes["/html"] = Route(body=b"<html></html>")
    with pytest.raises(OutboundError) as caught:
        outbound.fetch_json(stub.url("/html"))
    assert caught.value.reason == "json"


# --- TLS ------------------------------------------------------------------------------------


@pytest.fixture
def tls_stub(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = HttpStub(tls_context=context)
    yield server
    server.close()


def test_an_untrusted_certificate_is_a_tls_failure(tls_stub, loopback):
    tls_stub.routes["/m"] = Route(body=b"secret")
    _fails("tls", tls_stub.url("/m"))
