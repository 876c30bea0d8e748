"""Why something was turned off, stored as a code and translated when shown.

A row (a webhook endpoint, an API key) and its audit event store a *reason code* such as
``gone_410`` with its parameters (``{"when": "2026-11-29 18:02 UTC"}``), never a sentence:
a sentence would be frozen in the language of whoever happened to trigger it (often a
Celery worker, in English). ``reason_text()`` turns code and parameters into a sentence in
the active language, for the page, the email (each recipient's language) and the API's
human ``message``. Codes are English identifiers and never change meaning; clients may
branch on them.

Parameters are plain values chosen by the code that stores them: times in the fixed
``%Y-%m-%d %H:%M UTC`` form, email addresses. Values people chose are bidi-isolated
(``hypereal_site.text.isolate``) in right-to-left languages.

A code without an entry here (a row written before codes existed that a data migration
could not recognise) is stored as ``legacy`` with the old sentence in ``text``, shown as is.
"""

import re
from datetime import datetime

from django.utils.translation import gettext_lazy

from .text import isolate

#: Fixed form of a moment inside a reason (docs/i18n.md: fixed forms are not localised).
MOMENT_FORMAT = "%Y-%m-%d %H:%M UTC"

LEGACY = "legacy"

REASONS = {
    # webhooks.delivery: the endpoint answered 410 Gone (params: when).
    "gone_410": gettext_lazy("The endpoint answered 410 Gone on %(when)s."),
    # webhooks.delivery: every retry of a message failed for days (params: since).
    "repeated_failures": gettext_lazy(
        "No delivery succeeded since %(since)s; every retry of a message failed."
    ),
    # webhooks.services: a person disabled the endpoint (params: who, an email).
    "disabled_by": gettext_lazy("Disabled by %(who)s."),
    # sso.services: a domain's TXT record check (params: name; error, in English).
    "txt_other_value": gettext_lazy("The TXT record holds another value."),
    "txt_missing": gettext_lazy("No TXT record at %(name)s."),
    "domain_taken": gettext_lazy("Another organization has verified this domain."),
    "dns_lookup_failed": gettext_lazy("The DNS look-up failed: %(error)s."),
    # apikeys.caps: the monthly cap was reached with auto-disable on (no params).
    "spending_limit_reached": gettext_lazy("Monthly spending limit reached (auto-disable is on)."),
}

#: Parameters that are people's values (isolated in right-to-left text).
_ISOLATED = {"who"}
_NAME = re.compile(r"%\(([a-z_]+)\)s")


def moment(value: datetime) -> str:
    """A moment in the fixed form reasons carry."""
    return value.strftime(MOMENT_FORMAT)


def reason_text(code: str, params: dict | None = None) -> str:
    """The sentence for ``code`` in the active language ("" for no code)."""
    params = params or {}
    if not code:
        return ""
    template = REASONS.get(code)
    if template is None:
        # ``legacy``: the sentence stored before codes existed; an unknown code: itself.
        return str(params.get("text") or code)
    values = {
        name: isolate(value) if name in _ISOLATED else str(value) for name, value in params.items()
    }
    try:
        return str(template) % values
    except (KeyError, TypeError, ValueError):  # parameters missing: the sentence's frame
        return str(template) % dict.fromkeys(_NAME.findall(str(template)), "…")


def reason_of(payload) -> str:
    """The sentence for a reason as audit events store it: ``{"code": …, **params}``, or
    a plain sentence (events recorded before codes existed)."""
    if isinstance(payload, dict) and "code" in payload:
        params = {k: v for k, v in payload.items() if k != "code"}
        return reason_text(str(payload["code"]), params)
    return str(payload)


def reason_payload(code: str, params: dict | None = None) -> dict:
    """What an audit event stores for a reason (``reason_of`` reads it back)."""
    return {"code": code, **(params or {})}
