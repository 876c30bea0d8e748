"""The beat's daily re-check of verified domains (docs/sso.md, "Verified domains")."""

import logging

from celery import shared_task
from django.utils import timezone

from . import selectors, services

logger = logging.getLogger("hypereal.sso")


@shared_task
def recheck_domains() -> int:
    """Queue a re-check for every verified domain not looked up for a day (runs hourly,
    so each domain is looked at about once a day). Returns how many were queued."""
    ids = list(selectors.domains_due_for_recheck(now=timezone.now()).values_list("pk", flat=True))
    for domain_id in ids:
        recheck_domain.delay(domain_id)
    return len(ids)


@shared_task(bind=True, max_retries=3, default_retry_delay=300)
def recheck_domain(self, domain_id: int) -> str:
    """One domain's re-check; idempotent (the grace email goes out once, by send_once)."""
    try:
        return services.domain_recheck(domain_id=domain_id)
    except Exception as exc:  # an SMTP failure after commit: the state is saved, mail again
        logger.warning("domain re-check failed", extra={"domain": domain_id})
        raise self.retry(exc=exc) from exc


@shared_task
def prune_signin_records() -> dict:
    """Forget SAML ids past their NotOnOrAfter (the replay cache) and stale login attempts."""
    from . import signin  # noqa: PLC0415 - the sign-in service imports python3-saml; load it lazily

    return signin.prune()
