import logging

from django.conf import settings
from django.contrib.auth import logout
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from hypereal_site.api.errors import ApplicationError
from orgs.audit import audit_record, target_of
from orgs.selectors import orgs_where_last_owner
from orgs.services import personal_org_get_or_create, user_orgs_detach

from .models import User

logger = logging.getLogger("hypereal.accounts")


def user_deletion_blockers(*, user: User) -> list[str]:
    """Reasons the account may not be deleted yet, in words a user can act on.

    An account that is the last owner of an organization would orphan that
    organization; organizations register their check here as they arrive.
    """
    return [
        _("You are the last owner of %(org)s. Transfer ownership or delete it first.")
        % {"org": org.name}
        for org in orgs_where_last_owner(user=user)
    ]


@transaction.atomic
def user_update(
    *,
    user: User,
    actor: User,
    name: str | None = None,
    timezone: str | None = None,
    language: str | None = None,
) -> User:
    """Change the profile (the name, the timezone: an IANA name the caller checked, the
    language: a code of ``settings.LANGUAGES`` or "" for the browser's; each left as it
    is when ``None``); audited in the user's personal account (the log that follows the
    person rather than a team)."""
    before, after = {}, {}
    if name is not None and name.strip() != user.name:
        before["name"], after["name"] = user.name, name.strip()
        user.name = name.strip()
    if timezone is not None and timezone != user.timezone:
        before["timezone"], after["timezone"] = user.timezone, timezone
        user.timezone = timezone
    if language is not None and language != user.language:
        if language and language not in dict(settings.LANGUAGES):
            raise ValueError(f"unknown language {language!r}")
        before["language"], after["language"] = user.language, language
        user.language = language
    if not after:
        return user
    user.save(update_fields=list(after))
    audit_record(
        organization=personal_org_get_or_create(user=user),
        actor=actor,
        action="account.profile_updated",
        target=target_of(user),
        before=before,
        after=after,
    )
    return user


@transaction.atomic
def user_delete(*, user: User, actor: User, request: HttpRequest | None = None) -> None:
    blockers = user_deletion_blockers(user=user)
    if blockers:
        raise ApplicationError("account_deletion_blocked", " ".join(blockers), status=409)
    user_orgs_detach(user=user)
    logger.info("account deleted", extra={"user_public_id": user.public_id})
    if request is not None:
        logout(request)
    user.delete()
