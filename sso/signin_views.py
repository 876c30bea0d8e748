"""The sign-in endpoints (docs/sso.md, "Signing in").

Under ``/api/auth/sso/`` but answering browsers: the SAML ACS takes the IdP's cross-site POST
(CSRF-exempt here only; the login attempt in the database, not the session, ties the answer
to its request) and the OIDC callback takes the IdP's redirect. Both answer redirects, or an
HTML page saying why a sign-in was refused — never the JSON envelope. ``POST
/api/auth/sso/start`` is the JSON API the login page's email step uses.
"""

from __future__ import annotations

from allauth.account.adapter import get_adapter
from allauth.account.internal.flows.login import record_authentication
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle

from hypereal_site import reasons
from hypereal_site.api.errors import ApplicationError
from hypereal_site.api.strict import StrictInputApi
from orgs.access import Access, account_view, context_view, public_view
from orgs.context import Context, context_switch
from orgs.permissions import Perm

from . import saml, selectors, signin
from .models import SsoConnection

ERROR_TEMPLATE = "sso/signin_error.html"


def to_idp(request: HttpRequest, url: str) -> HttpResponse:
    """Send the browser to the IdP after a form: a page with a meta refresh, since CSP's
    form-action (which allows our own origin only) also governs a form's redirects."""
    response = render(request, "sso/redirect.html", {"url": url})
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


class StartThrottle(AnonRateThrottle):
    scope = "sso_start"
    rate = "30/min"


class SsoStartApi(StrictInputApi):
    """``POST /api/auth/sso/start {"email", "next"}`` → ``{"redirect": <IdP URL> | null}``.

    Public (it is the first step of signing in). The answer depends on the email's domain
    alone, never on whether an account exists."""

    hypereal_access = Access("public")
    permission_classes = [AllowAny]
    throttle_classes = [StartThrottle]

    class InputSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=254, trim_whitespace=True)
        next = serializers.CharField(max_length=2000, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        redirect = serializers.CharField(allow_null=True)

    @extend_schema(
        request=InputSerializer,
        responses=OutputSerializer,
        summary="Where an email signs in (its IdP, or null for the password)",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            url = signin.start_signin(email=data["email"], next_url=data.get("next", ""))
        except signin.SignInRefused as exc:
            raise ApplicationError("sso_unavailable", exc.message, status=502) from exc
        return Response({"redirect": url})


sso_start_api = SsoStartApi.as_view()


def _refused_page(request: HttpRequest, refusal: signin.SignInRefused) -> HttpResponse:
    signin.record_refusal(refusal)
    connection = refusal.connection
    if (
        refusal.attempt is not None
        and refusal.attempt.purpose == signin.Purpose.TEST
        and connection is not None
    ):
        return redirect(
            "sso_connection_test_result",
            provider_id=connection.provider_id,
            attempt_id=refusal.attempt.pk,
        )
    status = 404 if refusal.reason == "unknown_connection" else 403
    return render(
        request,
        ERROR_TEMPLATE,
        {
            "message": refusal.message,
            "reason": refusal.reason,
            "link_provider": connection.provider_id
            if connection is not None and refusal.reason == "link_required"
            else None,
        },
        status=status,
    )


def _signed_in(request: HttpRequest, result: signin.SignInResult) -> HttpResponse:
    """Log the user in the way allauth does (so the session is in usersessions' list and
    the login is recorded), in the organization's context, and go to ``next``."""
    if result.purpose == signin.Purpose.TEST:
        return redirect(
            "sso_connection_test_result",
            provider_id=result.connection.provider_id,
            attempt_id=result.attempt.pk,
        )
    user = result.user
    adapter = get_adapter(request)
    adapter.login(request, user)
    record_authentication(
        request, user, method="sso", provider=result.connection.provider_id, email=user.email
    )
    adapter.post_login(
        request,
        user,
        email_verification="none",
        signal_kwargs=None,
        email=None,
        signup=result.created,
        redirect_url=result.next_url,
    )
    context_switch(request, public_id=result.connection.organization.public_id)
    return HttpResponseRedirect(result.next_url)


@public_view
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def saml_acs(request: HttpRequest, provider_id: str) -> HttpResponse:
    """The ACS: ``POST /api/auth/sso/<providerId>`` with ``SAMLResponse`` (HTTP-POST)."""
    if request.method == "GET":
        return render(
            request,
            ERROR_TEMPLATE,
            {"message": _("Sign in from the console's sign-in page."), "reason": "get"},
            status=405,
        )
    try:
        result = signin.saml_complete(
            provider_id=provider_id, saml_response=request.POST.get("SAMLResponse", "")
        )
    except signin.SignInRefused as refusal:
        return _refused_page(request, refusal)
    return _signed_in(request, result)


@public_view
@never_cache
@require_GET
def oidc_callback(request: HttpRequest, provider_id: str) -> HttpResponse:
    """The redirect URI: ``GET /api/auth/sso/<providerId>/callback?code&state``."""
    try:
        result = signin.oidc_complete(
            provider_id=provider_id,
            state=request.GET.get("state"),
            code=request.GET.get("code"),
            error=request.GET.get("error"),
        )
    except signin.SignInRefused as refusal:
        return _refused_page(request, refusal)
    return _signed_in(request, result)


@public_view
@require_GET
def sp_metadata(request: HttpRequest, provider_id: str) -> HttpResponse:
    """Our SAML SP metadata for a connection (its entity id is this URL)."""
    if not selectors.saml_connection_exists(provider_id=provider_id):
        return render(
            request,
            ERROR_TEMPLATE,
            {"message": _("There is no SAML connection here."), "reason": "unknown_connection"},
            status=404,
        )
    return HttpResponse(saml.sp_metadata(provider_id), content_type="application/samlmetadata+xml")


# --- Test connection (owners and admins) ----------------------------------------------------


@context_view(Perm.SSO_MANAGE)
@require_POST
def connection_test(request: HttpRequest, provider_id: str, context: Context) -> HttpResponse:
    connection = selectors.connection_get(
        organization=context.organization, provider_id=provider_id
    )
    try:
        url = signin.start_test(connection=connection, actor=request.user)
    except signin.SignInRefused as exc:
        return render(request, ERROR_TEMPLATE, {"message": exc.message}, status=502)
    except (saml.SamlError, ValueError) as exc:
        return render(request, ERROR_TEMPLATE, {"message": str(exc)}, status=400)
    return to_idp(request, url)


@context_view(Perm.SSO_MANAGE)
@require_GET
def connection_test_result(
    request: HttpRequest, provider_id: str, attempt_id: int, context: Context
) -> HttpResponse:
    connection = selectors.connection_get(
        organization=context.organization, provider_id=provider_id
    )
    attempt = selectors.test_attempt_for(
        connection=connection, attempt_id=attempt_id, user=request.user
    )
    if attempt is None:
        raise Http404("No such test.")
    result = attempt.result
    if result and result.get("detail"):
        # The refusal in the reader's language (stored as a code), not the one of the
        # request that received the identity provider's answer.
        result = {**result, "message": reasons.reason_of(result["detail"])}
    return render(
        request,
        "sso/test_result.html",
        {
            "context": context,
            "connection": connection,
            "attempt": attempt,
            "result": result,
        },
    )


# --- Linking after a password sign-in --------------------------------------------------------


@account_view
@require_http_methods(["GET", "POST"])
def link(request: HttpRequest, provider_id: str) -> HttpResponse:
    """Offered after a password sign-in: link this account to the IdP identity that serves
    its email, with one round trip to the IdP (it must assert this same address)."""
    connection: SsoConnection | None = selectors.sso_connection_for_email(request.user.email)
    if connection is None or connection.provider_id != provider_id:
        raise Http404("No SSO connection serves this account's email.")
    if request.method == "POST":
        url = signin.start_link(
            connection=connection, user=request.user, next_url=request.POST.get("next", "")
        )
        return to_idp(request, url)
    return render(
        request,
        "sso/link.html",
        {"connection": connection, "organization": connection.organization},
    )
