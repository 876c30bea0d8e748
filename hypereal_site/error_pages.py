"""Error pages people can read: 400, 403, 404 and 405 keep the console around them.

A signed-in user sees the console's navigation and a sentence saying what happened (for a
denied page: which roles may open it and which owners to ask); anyone else sees the
entrance layout. API paths never come here: they answer the JSON envelope.
"""

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy as _

from orgs.access import RoleDenied
from orgs.context import current_context
from orgs.role_text import roles_needed
from orgs.selectors import org_owners

from .api.errors import is_api_path

logger = logging.getLogger("hypereal.errors")

TITLES = {
    400: _("This request could not be understood"),
    403: _("Not allowed"),
    404: _("Page not found"),
    405: _("This page cannot be opened that way"),
}


def _denial(request: HttpRequest, exception: Exception | None) -> dict:
    """Which roles the denied permission needs, the viewer's role, and who to ask."""

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    context = current_context(request)
    denial = {"context": context}
    if isinstance(exception, RoleDenied):
        denial["roles_needed"] = roles_needed(exception.perm)
    if not context.is_personal:
        denial["owners"] = org_owners(organization=context.organization)
    return denial


def error_page(
    request: HttpRequest,
    status: int,
    *,
    exception: Exception | None = None,
    reason: str = "",
) -> HttpResponse:
    extra = _denial(request, exception) if status == 403 else {}
    page = {
        "status": status,
        "title": TITLES[status],
        "reason": reason,
        "path": request.path,
        **extra,
    }
    try:
        html = render_to_string(f"{status}.html", page, request=request)
    except Exception:  # the console itself failed: still answer a readable page
        logger.exception("error page %s could not render in the console layout", status)
        html = render_to_string(f"{status}.html", {**page, "bare": True}, request=None)
    return HttpResponse(html, status=status)


def _is_bare(response: HttpResponse) -> bool:
    if getattr(response, "streaming", False):
        return False
    if not response.get("Content-Type", "").startswith("text/html"):
        return False
    body = response.content.lstrip().lower()
    return not body.startswith((b"<!doctype", b"<html"))


class ErrorPageMiddleware:
    """Responses a view answers itself without a page (``require_POST``'s empty 405, a
    plain-text 400) get the readable error page; the ``Allow`` header stays."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code not in TITLES or is_api_path(request.path):
            return response
        if request.headers.get("HX-Request") or not _is_bare(response):
            return response
        reason = response.content.decode(response.charset or "utf-8", "replace").strip()
        page = error_page(request, response.status_code, reason=reason[:300])
        for header in ("Allow", "Retry-After"):
            if header in response:
                page[header] = response[header]
        return page
