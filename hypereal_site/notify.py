"""Emails that must be sent exactly once per occasion, even when a task is retried, each
in its recipient's language."""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import translation

from .models import SentEmail

logger = logging.getLogger("hypereal.notify")

#: Renders an email as (subject, body) in the language active when it is called.
Render = Callable[[], tuple[str, str]]


def recipient_languages(emails: list[str], *, fallback: str | None = None) -> dict[str, str]:
    """Each address's language: its account's saved preference, else ``fallback``, else
    the language active now (the request's in a view, English in a worker)."""
    known = {code for code, _name in settings.LANGUAGES}
    default = fallback if fallback in known else translation.get_language()
    if default not in known:
        default = settings.LANGUAGE_CODE
    saved = dict(
        get_user_model()
        .objects.filter(email__in=[e.strip().lower() for e in emails])
        .exclude(language="")
        .values_list("email", "language")
    )
    return {
        email: lang if (lang := saved.get(email.strip().lower())) in known else default
        for email in emails
    }


@contextmanager
def language_of(email: str, *, fallback: str | None = None) -> Iterator[str]:
    """Render inside this block to write in the recipient's language."""
    language = recipient_languages([email], fallback=fallback)[email]
    with translation.override(language):
        yield language


def send_once(
    *,
    key: str,
    recipients: list[str],
    subject: str | None = None,
    body: str | None = None,
    render: Render | None = None,
) -> bool:
    """Send unless ``key`` was already sent; True when this call sent it.

    With ``render``, recipients are grouped by language (``recipient_languages``) and each
    group gets the email rendered in its language; otherwise ``subject`` and ``body`` go to
    everyone. The key is claimed in its own committed transaction before sending. If
    sending fails the claim is withdrawn and the error propagates, so the caller's retry
    sends again.
    """
    if not recipients:
        return False
    if render is not None:
        groups: dict[str, list[str]] = {}
        for email, language in recipient_languages(recipients).items():
            groups.setdefault(language, []).append(email)
        mails = []
        for language, group in groups.items():
            with translation.override(language):
                mails.append((*render(), group))
    else:
        assert subject is not None and body is not None
        mails = [(subject, body, recipients)]
    try:
        with transaction.atomic():
            claim = SentEmail.objects.create(
                key=key, recipients=", ".join(recipients), subject=mails[0][0][:255]
            )
    except IntegrityError:
        return False
    try:
        for mail_subject, mail_body, group in mails:
            send_mail(mail_subject, mail_body, None, group)
    except Exception:
        SentEmail.objects.filter(pk=claim.pk).delete()
        raise
    logger.info("notification sent", extra={"key": key, "recipients": len(recipients)})
    return True
