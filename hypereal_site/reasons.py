"""Why something was turned off or went wrong, stored as a code and translated when shown.

A row (a webhook endpoint, an API key, a deployment's status detail, a webhook delivery
attempt, an SSO check) and its audit event store a *reason code* such as
``gone_410`` with its parameters (``{"when": "2026-11-29 18:02 UTC"}``), never a sentence:
a sentence would be frozen in the language of whoever happened to trigger it (often a
Celery worker, in English). ``reason_text()`` turns code and parameters into a sentence in
the active language, for the page, the email (each recipient's language) and the API's
human ``message``. Codes are English identifiers and never change meaning; clients may
branch on them.

Parameters are plain values chosen by the code that stores them: times in the fixed
``%Y-%m-%d %H:%M UTC`` form, email addresses, host names, numbers, and text a remote
server gave (a GPU provider's or a resolver's English error), kept as given. Values people
or remote servers chose are bidi-isolated (``hypereal_site.text.isolate``) in right-to-left
languages.

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
    # infra.services: a deployment's status detail (params: error, the provider's English;
    # minutes). One sentence per step: a translated step inside a sentence reads badly.
    "endpoint_create_failed": gettext_lazy(
        "Creating the GPU endpoint failed (%(error)s); retrying."
    ),
    "endpoint_update_failed": gettext_lazy(
        "Updating the GPU endpoint failed (%(error)s); retrying."
    ),
    "endpoint_delete_failed": gettext_lazy(
        "Deleting the GPU endpoint failed (%(error)s); retrying."
    ),
    "endpoint_create_refused": gettext_lazy(
        "Creating the GPU endpoint was refused by the provider: %(error)s"
    ),
    "endpoint_update_refused": gettext_lazy(
        "Updating the GPU endpoint was refused by the provider: %(error)s"
    ),
    "endpoint_refused": gettext_lazy("The provider refused the endpoint: %(error)s"),
    "no_worker_in_time": gettext_lazy("No worker came up within %(minutes)d minutes."),
    "provider_no_answer": gettext_lazy("The provider did not answer (%(error)s); retrying."),
    # webhooks.delivery: why an attempt failed before or after sending (params: status).
    "endpoint_disabled": gettext_lazy("The endpoint is disabled."),
    "secret_undecryptable": gettext_lazy("The signing secret cannot be decrypted."),
    "no_webhook_url": gettext_lazy("The deployment has no webhook URL any more."),
    "secret_not_whsec": gettext_lazy("The signing secret is not a whsec_ secret."),
    "http_status": gettext_lazy("HTTP status %(status)s."),
    "http_redirect": gettext_lazy("HTTP status %(status)s. Redirects are not followed."),
    # hypereal_site.outbound: a fetch that failed (params: host, status, limit, why).
    "invalid_url": gettext_lazy("This is not a valid URL."),
    "https_only": gettext_lazy("Only https:// URLs can be fetched."),
    "url_credentials": gettext_lazy("A URL with a user name or password is not accepted."),
    "unresolvable": gettext_lazy("%(host)s could not be resolved."),
    "private_address": gettext_lazy("%(host)s points to an address that is not public (%(why)s)."),
    "unreachable": gettext_lazy("%(host)s could not be reached."),
    "tls_failed": gettext_lazy("The TLS connection to %(host)s failed."),
    "connection_broken": gettext_lazy("The connection to %(host)s broke off."),
    "timed_out": gettext_lazy("%(host)s took too long to answer."),
    "too_large": gettext_lazy("%(host)s sent more than %(limit)s bytes."),
    "too_many_redirects": gettext_lazy("%(host)s redirected too many times."),
    "unexpected_status": gettext_lazy("%(host)s answered with HTTP status %(status)s."),
    "invalid_json": gettext_lazy("%(host)s did not answer with valid JSON."),
    # sso.oidc discovery and sso.checks: a connection's save-time check (params: theirs,
    # the issuer the document names; fields, the missing field names).
    "discovery_not_object": gettext_lazy("The discovery document is not a JSON object."),
    "issuer_mismatch": gettext_lazy("The discovery document is for another issuer (%(theirs)s)."),
    "discovery_incomplete": gettext_lazy("The discovery document lacks %(fields)s."),
    "no_supported_algorithm": gettext_lazy(
        "The provider signs ID tokens with neither RS256 nor ES256."
    ),
    "sha1_only": gettext_lazy(
        "The identity provider offers only SHA-1, which sign-in refuses. Switch its "
        "signing algorithm (and certificate) to SHA-256."
    ),
    "certificate_expired": gettext_lazy("Every signing certificate has expired."),
}


def register(codes: dict) -> None:
    """Add an app's own reason sentences (codes stay unique across the project). The apps
    above the plumbing keep the sentences of their domain and register them when Django
    starts (their ``AppConfig.ready``), so every process can show their stored codes."""
    for code, template in codes.items():
        if REASONS.get(code, template) is not template:
            raise ValueError(f"reason code {code!r} is already taken")
        REASONS[code] = template


#: Parameters that are people's or remote servers' values (isolated in right-to-left text).
_ISOLATED = {"who", "host", "error", "why", "theirs", "fields"}
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")


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
        name: isolate(value) if name in _ISOLATED else value for name, value in params.items()
    }
    try:
        return str(template) % values
    except (KeyError, TypeError, ValueError):  # parameters missing: the sentence's frame
        return _PLACEHOLDER.sub("…", str(template)).replace("%%", "%")


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
