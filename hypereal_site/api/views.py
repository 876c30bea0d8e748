"""Django-level error handlers: API paths answer the JSON envelope, pages answer HTML."""

from django.http import HttpRequest, HttpResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

from orgs.access import public_view

from .errors import error_response, is_api_path


@public_view
def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return error_response("not_found", "No such API endpoint.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return error_response(
            "internal_error", "An unexpected error occurred. It has been logged.", 500
        )
    return defaults.server_error(request)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return error_response("permission_denied", "You may not do this.", 403)
    return defaults.permission_denied(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path):
        return error_response("invalid_request", "The request could not be understood.", 400)
    return defaults.bad_request(request, exception)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api_path(request.path):
        return error_response("csrf_failed", f"CSRF check failed: {reason}", 403)
    return django_csrf_failure(request, reason)
