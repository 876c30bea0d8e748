"""Structured logs: one JSON object per line, each with the current request id."""

import json
import logging
import re
from datetime import UTC, datetime
from urllib.parse import unquote

from .requestid import get_request_id

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            # Django logs every 4xx/5xx response ("Not Found: /api/nope") after the
            # middleware chain has returned, when the context variable is already reset;
            # those records carry the request itself, which carries its id.
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or get_request_id()
        return True


# Secrets that can ride in a URL or a message: customer keys, service tokens, and the
# one-time links we email. They are masked in every log line (docs/architecture.md: never
# logged in plain text). The URL patterns are the routes whose path carries a secret.
SECRET_URL_PATTERNS = (
    r"/invitations/",  # orgs: invitation_accept
    r"/accounts/password/reset/key/",  # allauth: the emailed "<uid>-<key>"
    r"/accounts/confirm-email/",  # allauth: the emailed verification key
)
_SECRETS = (
    (re.compile(r"ck_[0-9A-Za-z]{6,}"), "ck_[redacted]"),
    (re.compile(r"svc_[0-9A-Za-z]{6,}"), "svc_[redacted]"),
    (
        re.compile("(" + "|".join(SECRET_URL_PATTERNS) + r")[^/\s?&#'\"\\]+"),
        r"\1[redacted]",
    ),
    (re.compile(r"([?&](?:key|token|code)=)[^&\s'\"\\]+"), r"\1[redacted]"),
)
# A run of URL characters holding a percent-escape: a secret URL-encoded into another
# URL (``/accounts/login/?next=%2Finvitations%2F<token>``) is masked after decoding.
_ENCODED = re.compile(r"[^\s'\"\\]*%[0-9A-Fa-f]{2}[^\s'\"\\]*")


def _mask(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _mask_encoded(match: re.Match) -> str:
    original = match.group(0)
    decoded = original
    for _round in range(3):  # encoded, double- and triple-encoded
        decoded = unquote(decoded)
        if _mask(decoded) != decoded:
            return _mask(decoded)
        if "%" not in decoded:
            break
    return original


def redact(text: str) -> str:
    return _mask(_ENCODED.sub(_mask_encoded, text))


def _describe(value) -> str | int | float | bool:
    if isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "method") and hasattr(value, "path"):  # a request: no query string
        return f"{value.method} {value.path}"
    return repr(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", get_request_id()),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = _describe(value)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, ensure_ascii=False))
