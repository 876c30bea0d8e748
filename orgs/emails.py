import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

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
    context = {
        "invitation": invitation,
        "organization": invitation.organization,
        "inviter": invitation.invited_by.email if invitation.invited_by else "A teammate",
        "accept_url": invitation_accept_url(token),
        "site_name": settings.SITE_NAME,
    }
    subject = render_to_string("orgs/email/invitation_subject.txt", context).strip()
    body = render_to_string("orgs/email/invitation_message.txt", context)
    try:
        send_mail(subject, body, None, [invitation.email])
    except Exception:
        # The invitation stands; the inviter can resend it from the members page.
        logger.exception("could not send invitation email", extra={"invitation": invitation_id})
