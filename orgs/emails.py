import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy

from hypereal_site.notify import language_of

from .models import Invitation

logger = logging.getLogger("hypereal.orgs")


def invitation_accept_url(token: str) -> str:
    return f"{settings.SITE_URL}{reverse('invitation_accept', args=[token])}"


def invitation_email_send(*, invitation_id: int, token: str) -> None:
    invitation = (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None or not invitation.is_open:
        return
    teammate = gettext_lazy("A teammate")
    context = {
        "invitation": invitation,
        "organization": invitation.organization,
        "inviter": invitation.invited_by.email if invitation.invited_by else teammate,
        "accept_url": invitation_accept_url(token),
        "site_name": settings.SITE_NAME,
    }
    # An invitation may go to someone without an account yet: then the inviter's language
    # (they likely share it), else the language of the request that sent it.
    inviter = invitation.invited_by
    with language_of(invitation.email, fallback=inviter.language if inviter else None):
        subject = render_to_string("orgs/email/invitation_subject.txt", context).strip()
        body = render_to_string("orgs/email/invitation_message.txt", context)
    try:
        send_mail(subject, body, None, [invitation.email])
    except Exception:
        # The invitation stands; the inviter can resend it from the members page.
        logger.exception("could not send invitation email", extra={"invitation": invitation_id})
