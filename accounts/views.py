from allauth.account.views import LoginView
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language_from_request
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apikeys.selectors import apikey_active_count, apikey_exists
from billing.pricing import TOKEN_ENDPOINT_MIN_BALANCE
from billing.selectors import wallet_for
from hypereal_site.api.errors import ApplicationError
from orgs.access import Access, account_view, public_view
from orgs.context import current_context
from orgs.permissions import Perm
from orgs.role_text import roles_sentence
from sso.signin import SignInRefused, start_signin
from sso.signin_views import to_idp
from usage.charts import bars
from usage.selectors import usage_month_summary, usage_recent_daily, usage_seen, viewer_zone

from . import selectors, services
from .forms import AccountDeleteForm, ProfileForm


@public_view
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    return redirect("account_login")


@account_view
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    context = current_context(request)
    org = context.organization
    can_view_billing = context.allows(Perm.BILLING_VIEW)
    wallet = wallet_for(organization=org) if can_view_billing else None
    spark = None
    if context.allows(Perm.USAGE_VIEW):
        tz = viewer_zone(request.user)
        days = usage_recent_daily(organization=org, tz=tz)
        spark = bars(days, [], {})
        spark["zone"] = tz.key
        spark["total"] = sum(d["cost"] for d in days)
        spark["peak_day"] = max(days, key=lambda d: d["cost"]) if spark["peak"] else None
    return render(
        request,
        "accounts/dashboard.html",
        {
            "context": context,
            "wallet": wallet,
            "can_view_billing": can_view_billing,
            "balance_roles": roles_sentence(Perm.BILLING_VIEW),
            "active_keys": apikey_active_count(organization=org),
            "month": usage_month_summary(organization=org),
            "spark": spark,
            "min_call_microcredits": TOKEN_ENDPOINT_MIN_BALANCE,
            "steps": {
                "email": selectors.user_has_verified_email(user=request.user),
                "mfa": selectors.user_has_mfa(user=request.user),
                "funded": wallet is not None and wallet.balance_microcredits > 0,
                "key": apikey_exists(organization=org),
                "request": usage_seen(organization=org),
            },
        },
    )


@account_view
@require_http_methods(["GET", "POST"])
def account_settings(request: HttpRequest) -> HttpResponse:
    user = request.user
    # Not ``request.POST or None``: an empty POST is falsy and would skip validation.
    form = ProfileForm(
        request.POST if request.method == "POST" else None,
        initial={"name": user.name, "timezone": user.timezone, "language": user.language},
    )
    if request.method == "POST" and form.is_valid():
        services.user_update(
            user=user,
            actor=user,
            name=form.cleaned_data["name"],
            timezone=form.cleaned_data["timezone"] or None,
            language=form.cleaned_data["language"],
        )
        # The confirmation (and the page after it) in the language just chosen.
        translation.activate(request.user.language or get_language_from_request(request))
        messages.success(request, _("Profile saved."))
        return redirect("account_settings")
    return render(
        request,
        "accounts/settings.html",
        {
            "form": form,
            "emails": selectors.user_email_addresses(user=user),
            "mfa_types": selectors.user_mfa_types(user=user),
            "sessions": selectors.user_sessions(user=user),
            "current_session_key": request.session.session_key,
        },
    )


@public_view
@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """The header's and the sign-in pages' switcher: remembers the choice in a cookie (for
    anyone, so that it survives signing out) and, for a signed-in person, as the account's
    preference. Goes back to ``next``, the full path the switcher was on (query string
    included); the page's unsaved fields are carried across by static/js/console.js."""
    language = request.POST.get("language", "")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    response = HttpResponseRedirect(next_url)
    if language not in dict(settings.LANGUAGES):
        return response
    if request.user.is_authenticated:
        services.user_update(user=request.user, actor=request.user, language=language)
    translation.activate(language)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


@account_view
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest) -> HttpResponse:
    user = request.user
    blockers = services.user_deletion_blockers(user=user)
    form = AccountDeleteForm(request.POST if request.method == "POST" else None, user=user)
    if request.method == "POST" and not blockers and form.is_valid():
        try:
            services.user_delete(user=user, actor=user, request=request)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Your account has been deleted."))
            return redirect("account_login")
    return render(request, "accounts/delete.html", {"form": form, "blockers": blockers})


class EmailFirstLoginView(LoginView):
    """allauth's login page, email first: the email step sends a verified SSO domain with an
    enabled connection to its identity provider (``sso.signin.start_signin``, the same
    routing as ``POST /api/auth/sso/start``); any other address gets the password step, then
    allauth's usual flow (MFA included). A POST with a password is allauth's login as
    before. Whether an account exists plays no part in the routing."""

    hypereal_access = Access("public")

    def get_context_data(self, **kwargs) -> dict:
        # ``?method=password`` skips the email step: the way a break-glass owner whose domain
        # routes to its identity provider still reaches the password (and MFA) step.
        asked = self.request.method == "POST" or self.request.GET.get("method") == "password"
        kwargs.setdefault("login_step", "password" if asked else "email")
        return super().get_context_data(**kwargs)

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if "password" in request.POST:
            return super().post(request, *args, **kwargs)
        email = request.POST.get("login", "").strip()
        form = self.get_form_class()(initial={"login": email}, request=request)
        if not email:
            return self.render_to_response(
                self.get_context_data(
                    form=form, login_step="email", sso_error=_("Enter your email address.")
                )
            )
        next_url = request.POST.get("next") or request.GET.get("next") or ""
        try:
            url = start_signin(email=email, next_url=next_url)
        except SignInRefused as exc:
            return self.render_to_response(
                self.get_context_data(form=form, login_step="email", sso_error=exc.message)
            )
        if url is not None:
            return to_idp(request, url)
        return self.render_to_response(self.get_context_data(form=form, login_step="password"))


login = EmailFirstLoginView.as_view()
