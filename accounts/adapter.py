from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.authentication import get_authentication_records
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse

from hypereal_site.notify import language_of
from orgs.views import PENDING_INVITATION_SESSION_KEY
from sso import selectors as sso_selectors
from sso import services as sso_services

from .models import normalize_email


def site_url(path: str) -> str:
    """An absolute URL on the canonical site, never derived from the request's Host."""
    return f"{settings.SITE_URL}{path}"


@dataclass(frozen=True)
class CanonicalSite:
    """Stands in for allauth's ``current_site``, which (without django.contrib.sites)
    is built from the request's Host header, i.e. chosen by the client."""

    name: str
    domain: str


def canonical_site() -> CanonicalSite:
    return CanonicalSite(name=settings.SITE_NAME, domain=urlsplit(settings.SITE_URL).netloc)


class AccountAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request) -> str:
        """Back to an invitation opened before signing up (see orgs.views.invitation_accept),
        otherwise the usual destination."""
        pending = request.session.pop(PENDING_INVITATION_SESSION_KEY, None)
        if pending and pending.startswith("/invitations/"):
            return pending
        return super().get_login_redirect_url(request)

    def clean_email(self, email: str) -> str:
        return super().clean_email(normalize_email(email))

    def get_email_confirmation_url(self, request, emailconfirmation) -> str:
        return site_url(reverse("account_confirm_email", args=[emailconfirmation.key]))

    def get_reset_password_from_key_url(self, key: str) -> str:
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return site_url(path.replace("UID-KEY", key))

    # --- SSO enforcement: every password path asks sso.selectors.password_login_refusal,
    # and only once the password (or the reset key) has proved who is asking.

    def authenticate(self, request: HttpRequest, **credentials: Any):
        user = super().authenticate(request, **credentials)
        if user is not None and credentials.get("password") is not None:
            refusal = sso_selectors.password_login_refusal(user)
            if refusal is not None:
                raise ValidationError(refusal.message, code=refusal.code)
        return user

    def reauthenticate(self, user, password: str) -> bool:
        if not super().reauthenticate(user, password):
            return False
        refusal = sso_selectors.password_login_refusal(user)
        if refusal is not None:
            raise ValidationError(refusal.message, code=refusal.code)
        return True

    def post_login(self, request: HttpRequest, user, **kwargs):
        response = super().post_login(request, user, **kwargs)
        methods = [r.get("method") for r in get_authentication_records(request, user)]
        first_factor = next((m for m in reversed(methods) if m != "mfa"), None)
        if first_factor == "password":
            connections = sso_selectors.break_glass_connections(user)
            if connections:
                second = next((m for m in reversed(methods) if m == "mfa"), "none")
                sso_services.break_glass_used(user=user, connections=connections, method=second)
        return response

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        if template_prefix == "account/email/password_reset_key":
            refusal = sso_selectors.password_login_refusal(context.get("user"))
            if refusal is not None:
                # The form said "we sent you an email" as it does for any address (no
                # enumeration); the mail, not the form, says to use company sign-in.
                template_prefix = "account/email/password_reset_sso"
                context = {"refusal": refusal.message, "user": context.get("user")}
        # allauth names the site in every mail ("Hello from <domain>!"); a forged Host
        # header must not put its own name, or its own links, into our mail.
        context = {**context, "current_site": canonical_site()}
        if template_prefix == "account/email/unknown_account":
            # allauth builds this link from the Host header and has no hook for it.
            context["signup_url"] = site_url(reverse("account_signup"))
        # In the recipient's saved language, else the one of the page that caused the mail.
        with language_of(email):
            super().send_mail(template_prefix, email, context)

    def send_account_already_exists_mail(self, email: str) -> None:
        self.send_mail(
            "account/email/account_already_exists",
            email,
            {
                "signup_url": site_url(reverse("account_signup")),
                "password_reset_url": site_url(reverse("account_reset_password")),
            },
        )

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth keys the per-account lockout on the Host header; varying it (even just
        # the port, which ALLOWED_HOSTS ignores) would give an attacker a fresh budget
        # of failed logins. Key on the normalised address alone.
        login = credentials.get("email", credentials.get("username", ""))
        return f"login_failed:{normalize_email(login)}"
