"""Django-level error handlers: API paths answer the JSON envelope, pages answer HTML."""

from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

from orgs.access import public_view

from ..error_pages import error_page
from .errors import error_response, is_api_path


@public_view
def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return error_response("not_found", _("No such API endpoint."), 404)
    return error_page(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return error_response(
            "internal_error", _("An unexpected error occurred. It has been logged."), 500
        )
    return defaults.server_error(request)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return error_response("permission_denied", _("You may not do this."), 403)
    return error_page(request, 403, exception=exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return error_response("invalid_request", _("The request could not be understood."), 400)
    return error_page(request, 400)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api_path(request.path):
        return error_response(
            "csrf_failed", _("CSRF check failed: %(reason)s") % {"reason": reason}, 403
        )
    return django_csrf_failure(request, reason)


def request_too_large(request: HttpRequest, limit: int) -> HttpResponse:
    """413 for a body above the endpoint's limit: the envelope for APIs and JSON callers
    (the Stripe webhook), a page otherwise."""
    message = _("The request body is larger than this endpoint accepts (%(limit)d bytes).") % {
        "limit": limit
    }
    if is_api_path(request.path) or request.content_type == "application/json":
        return error_response("request_too_large", message, 413, limit_bytes=limit)
    try:
        template = loader.get_template("413.html")
    except loader.TemplateDoesNotExist:
        return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
    return HttpResponse(template.render({"message": message}, request), status=413)
