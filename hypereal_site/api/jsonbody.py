"""One JSON decoder for every request body: DRF's default parser and the hand-rolled
fast paths of the internal API both call ``parse_json``.

It refuses what ``json.loads`` would turn into a crash further on: nesting deeper than
``MAX_DEPTH`` (``"[" * 100_000`` is a ``RecursionError`` inside the C scanner, and a few
hundred levels still blow the stack in code that walks the value), ``NaN``/``Infinity``
(not JSON, and never a valid amount) and bytes that are not UTF-8. The error is DRF's
``ParseError`` (400 ``invalid_request`` in the envelope) and also a ``ValueError``, so
callers that already catch ``ValueError`` keep working.
"""

import json

from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers

#: No API of ours takes more than a handful of levels; this leaves room for free-form
#: objects (a usage event's metadata) and stays far from the interpreter's stack limit.
MAX_DEPTH = 64


class JSONBodyError(exceptions.ParseError, ValueError):
    pass


_CONTAINERS = (dict, list)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _depth_exceeds(value, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit``, without recursion."""
    # ``type() in`` rather than isinstance: json.loads makes plain dicts and lists, and
    # this loop runs over every value of a 1000-event usage batch (~0.5 ms).
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if type(node) is dict else node:
            if type(child) in _CONTAINERS:
                stack.append((child, depth + 1))
    return False


#: One decoder for every body: ``json.loads`` with an option builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def parse_json(data: bytes | str):
    """The decoded body, or ``JSONBodyError``."""
    try:
        if not isinstance(data, str):
            # As ``json.loads`` does: UTF-8 (with or without a BOM), UTF-16 or UTF-32.
            data = data.decode(json.detect_encoding(data), "surrogatepass")
        value = _DECODER.decode(data)
    except RecursionError:
        raise JSONBodyError(_("JSON parse error - nested too deeply.")) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JSONBodyError(_("JSON parse error - %(error)s") % {"error": exc}) from None
    if isinstance(value, dict | list):
        # Every opening bracket could be one more level: counting them (C speed) proves
        # most bodies shallow without walking them; the walk settles the rest.
        openers = data.count("[") + data.count("{")
        if openers > MAX_DEPTH and _depth_exceeds(value, MAX_DEPTH):
            raise JSONBodyError(
                _("JSON parse error - nested deeper than %(depth)d levels.") % {"depth": MAX_DEPTH}
            )
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through ``parse_json`` (the default for every DRF view)."""

    def parse(self, stream, media_type=None, parser_context=None):
        return parse_json(stream.read())
