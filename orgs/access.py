"""Resolve the tenant once, check the role against the table, hand the view its org.

HTML views use the decorators; DRF views subclass ``AccountApi``, ``OrgApi`` or
``ContextApi`` (all refuse unknown body fields, see hypereal_site.api.strict). Each marks
the view with an ``Access`` so that the permission test can prove every URL is covered.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, permissions
from rest_framework.views import APIView

from hypereal_site.api.machine import MACHINE_RENDERERS, JsonOnly
from hypereal_site.api.strict import StrictInputApi

from . import selectors
from .context import current_context
from .permissions import Perm, role_allows

ACCESS_ATTR = "hypereal_access"


@dataclass(frozen=True)
class Access:
    #: "public" (anyone), "account" (any signed-in user, no organization involved),
    #: "context" (the current context's role must hold ``perm``), "org" (API: the URL's
    #: organization, per-method permissions in ``OrgApi.permissions``).
    kind: str
    perm: Perm | None = None


class RoleDenied(PermissionDenied):
    """The current context's role lacks ``perm``; the denied page names who holds it."""

    def __init__(self, perm: Perm) -> None:
        super().__init__(f"Your role does not allow {perm}.")
        self.perm = perm


def _mark(view: Callable, access: Access) -> Callable:
    setattr(view, ACCESS_ATTR, access)
    return view


def public_view(view: Callable) -> Callable:
    return _mark(view, Access("public"))


def account_view(view: Callable) -> Callable:
    return _mark(login_required(view), Access("account"))


def context_view(perm: Perm) -> Callable[[Callable], Callable]:
    """The view runs in the current context and needs ``perm`` there; it gets ``context=``."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            context = current_context(request)
            if not context.allows(perm):
                raise RoleDenied(perm)
            return view(request, *args, context=context, **kwargs)

        return _mark(login_required(wrapper), Access("context", perm))

    return decorator


class InternalApi(APIView):
    """An endpoint of the inference plane's ``/internal/v1/`` (``svc_`` service tokens only).

    Service tokens belong to the API keys app, which sits above some of the apps serving
    internal endpoints; so the token check is plugged in where the endpoints are composed
    (``hypereal_site.internal_urls``), together with any collaborator from an app above.
    Mounted any other way, the view lets nobody in.
    """

    hypereal_access = Access("service")
    authentication_classes: list = []
    permission_classes = [permissions.IsAuthenticated]  # nobody, until composed
    throttle_classes: list = []  # the gateway is trusted and hot; it has its own limits
    renderer_classes = MACHINE_RENDERERS
    content_negotiation_class = JsonOnly  # JSON, always: no Accept parsing per call


class AccountApi(StrictInputApi):
    """An API of the signed-in user that names no organization in its URL."""

    hypereal_access = Access("account")


class OrgApi(StrictInputApi):
    """An API under ``/api/orgs/<org_id>/``: the caller must be a member (else 404) whose
    role holds the method's permission (else 403)."""

    hypereal_access = Access("org")
    #: HTTP method -> permission. Every handler the view defines must be listed.
    permissions: dict[str, Perm] = {}

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # 401 before anything else
        method = "GET" if request.method == "HEAD" else request.method
        if not hasattr(self, method.lower()) or method == "OPTIONS":
            return  # DRF answers 405 (or OPTIONS metadata) without touching the tenant
        if method not in self.permissions:
            raise ImproperlyConfigured(f"{type(self).__name__} has no permission for {method}")
        organization, membership = selectors.org_get_for_member(
            user=request.user, public_id=kwargs["org_id"]
        )
        if not role_allows(membership.role, self.permissions[method]):
            raise exceptions.PermissionDenied(
                _("Your role (%(role)s) does not allow this.")
                % {"role": membership.get_role_display()}
            )
        self.organization = organization
        self.membership = membership


class ContextApi(StrictInputApi):
    """A browser API acting in the session's current context (personal account or the
    organization picked in the switcher), e.g. ``/api/api-keys``. The role in that context
    must hold the method's permission (else 403)."""

    hypereal_access = Access("context_api")
    permissions: dict[str, Perm] = {}

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        method = "GET" if request.method == "HEAD" else request.method
        if not hasattr(self, method.lower()) or method == "OPTIONS":
            return
        if method not in self.permissions:
            raise ImproperlyConfigured(f"{type(self).__name__} has no permission for {method}")
        context = current_context(request._request)
        if not context.allows(self.permissions[method]):
            raise exceptions.PermissionDenied(
                _("Your role (%(role)s) does not allow this.")
                % {"role": context.membership.get_role_display()}
            )
        self.context = context
        self.organization = context.organization
