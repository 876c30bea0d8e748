from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession

from .models import User


def user_mfa_types(*, user: User) -> set[str]:
    return set(Authenticator.objects.filter(user=user).values_list("type", flat=True))


def user_has_mfa(*, user: User) -> bool:
    return Authenticator.objects.filter(user=user).exists()


def user_has_verified_email(*, user: User) -> bool:
    return EmailAddress.objects.filter(user=user, verified=True).exists()


def user_email_addresses(*, user: User) -> list[EmailAddress]:
    return list(EmailAddress.objects.filter(user=user).order_by("-primary", "email"))


def user_sessions(*, user: User) -> list[UserSession]:
    return list(UserSession.objects.purge_and_list(user))
