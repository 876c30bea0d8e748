"""TXT look-ups for domain verification, with dnspython.

``settings.DNS_RESOLVER`` (an IP address and a port, IPv6 as ``[::1]:53``) names the server to ask;
empty means the system's resolvers (``/etc/resolv.conf``). Nothing is cached here: a
verification must see the record as it is now.
"""

import ipaddress

import dns.exception
import dns.name
import dns.resolver
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DnsLookupError(Exception):
    """The question could not be answered (timeout, SERVFAIL, no server reachable): whether
    the record exists is unknown, unlike an answer that says it does not."""


def _server(spec: str) -> tuple[str, int]:
    host, sep, port = spec.strip().rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        host = ""
    if not sep or not port.isdigit() or not host or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(
            f"DNS_RESOLVER must be an IP address and a port (127.0.0.1:53, [::1]:53), not {spec!r}."
        )
    return host, int(port)


def _resolver() -> dns.resolver.Resolver:
    spec = settings.DNS_RESOLVER
    if spec:
        resolver = dns.resolver.Resolver(configure=False)
        host, port = _server(spec)
        resolver.nameservers = [host]
        resolver.port = port
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = settings.DNS_TIMEOUT_SECONDS
    resolver.lifetime = settings.DNS_TIMEOUT_SECONDS
    resolver.cache = None
    return resolver


def txt_values(name: str) -> list[str]:
    """Every TXT value at ``name`` (each record's strings joined), [] if none exists.

    Raises DnsLookupError when the answer could not be had.
    """
    try:
        qname = dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise DnsLookupError(f"invalid name: {exc}") from None
    try:
        answer = _resolver().resolve(qname, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.resolver.LifetimeTimeout:
        raise DnsLookupError("the DNS server did not answer in time") from None
    except dns.resolver.NoNameservers:
        raise DnsLookupError("the DNS server could not answer (SERVFAIL or refused)") from None
    except dns.exception.DNSException as exc:
        raise DnsLookupError(f"DNS error: {type(exc).__name__}") from None
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]
