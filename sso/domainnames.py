"""Domain names as organizations claim them: one canonical form, and what may be claimed.

The canonical form is lowercase ASCII, IDNA (UTS #46) for international names
(``Bücher.de`` → ``xn--bcher-kva.de``), without a trailing dot. A claim must be a registrable
name or below one: never an IP address, a single label, or a public suffix alone (``com``,
``co.uk``, ``github.io``), judged by the Public Suffix List that ``publicsuffixlist`` ships.
"""

import ipaddress
import re
from functools import lru_cache

import idna
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from publicsuffixlist import PublicSuffixList

MAX_LENGTH = 253
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def _invalid(message: str) -> ValidationError:
    return ValidationError({"domain": message})


def normalize_domain(raw: str) -> str:
    """The canonical form of a claimable domain, or ValidationError on ``domain``."""
    if not isinstance(raw, str):
        raise _invalid(_("Enter a domain name."))
    text = raw.strip().rstrip(".")
    if not text:
        raise _invalid(_("Enter a domain name."))
    if len(text) > MAX_LENGTH * 2 or "\x00" in text:
        raise _invalid(_("Enter a domain name, such as example.com."))
    if "@" in text or "/" in text or ":" in text or "[" in text:
        raise _invalid(_("Enter only the domain name, such as example.com (no address or URL)."))
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        raise _invalid(_("Enter a domain name, not an IP address."))
    try:
        name = idna.encode(text, uts46=True).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError):
        raise _invalid(
            _("“%(domain)s” is not a valid domain name.") % {"domain": text[:80]}
        ) from None
    labels = name.split(".")
    if len(name) > MAX_LENGTH or not all(_LABEL.match(label) for label in labels):
        raise _invalid(_("“%(domain)s” is not a valid domain name.") % {"domain": text[:80]})
    if len(labels) < 2:
        raise _invalid(_("Enter a full domain name, such as example.com."))
    if labels[-1].isdigit():
        raise _invalid(_("Enter a domain name, not an IP address."))
    if _psl().is_public(name) or _psl().privatesuffix(name) is None:
        raise _invalid(
            _("“%(domain)s” is a public suffix; claim your own domain under it.")
            % {"domain": text[:80]}
        )
    return name


def email_domain(email: str) -> str | None:
    """The canonical domain of an email address, or None if it has no claimable one."""
    if not isinstance(email, str) or "@" not in email:
        return None
    try:
        return normalize_domain(email.rsplit("@", 1)[1])
    except ValidationError:
        return None


def display_domain(name: str) -> str:
    """The Unicode form to show people (``xn--bcher-kva.de`` → ``bücher.de``)."""
    try:
        return idna.decode(name)
    except (idna.IDNAError, UnicodeError, ValueError):
        return name
