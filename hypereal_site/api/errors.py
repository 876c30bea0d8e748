"""One error envelope for every API: ``{"error": {"type": ..., "message": ...}}``.

Services raise ``ApplicationError`` (or Django's ``ValidationError``/``PermissionDenied``/
``Http404``); DRF views turn them into the envelope through ``exception_handler``; Django's
own 404/500 handlers use ``error_response`` for API paths.
"""

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("hypereal.api")

API_PREFIXES = ("/api/", "/internal/", "/v1/")


class ApplicationError(Exception):
    """A business-rule failure with a stable machine-readable ``type``."""

    def __init__(
        self,
        type: str,
        message: str,
        status: int = 400,
        extra: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.status = status
        self.extra = extra or {}


def envelope(type: str, message: str, **extra) -> dict:
    return {"error": {"type": type, "message": message, **extra}}


def error_response(type: str, message: str, status: int, **extra) -> JsonResponse:
    """The envelope from a plain Django view (the Stripe webhook, the error handlers, the
    middleware's 413): the one helper for JSON errors outside DRF."""
    return JsonResponse(envelope(type, message, **extra), status=status)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


_TYPES = {
    exceptions.ParseError: "invalid_request",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            text = _first_message(value)
            if key == "non_field_errors":
                return text
            return _("%(field)s: %(message)s") % {"field": key, "message": text}
        return _("Invalid input.")
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else _("Invalid input.")
    return str(detail)


def _plain(detail):
    if isinstance(detail, dict):
        return {key: _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(value) for value in detail]
    return str(detail)


def _render_as_json(context: dict) -> None:
    """Errors are JSON whatever the view renders on success.

    DRF renders an error with the renderer it negotiated for the view, so without this the
    schema view would answer its errors in YAML and the Swagger page in HTML.
    """
    request = context.get("request")
    if request is not None:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def exception_handler(exc: Exception, context: dict) -> Response:
    _render_as_json(context)
    set_rollback()  # as DRF's own handler does: a request-wide transaction must not commit
    headers: dict[str, str] = {}
    wrapped = getattr(exc, "application_error", None)
    if isinstance(wrapped, ApplicationError):
        # An authentication failure that carries a precise type (``key_revoked``…).
        response = Response(
            envelope(wrapped.type, wrapped.message, **wrapped.extra), status=wrapped.status
        )
        if getattr(exc, "auth_header", None):
            response["WWW-Authenticate"] = exc.auth_header
        return response
    if isinstance(exc, ApplicationError):
        return Response(envelope(exc.type, exc.message, **exc.extra), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        # HostileInputMiddleware answers first; this covers a body without Content-Length.
        return Response(
            envelope("request_too_large", _("The request body is too large.")),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = (
            _plain(detail) if isinstance(detail, dict) else {"non_field_errors": _plain(detail)}
        )
        return Response(
            envelope("validation_error", _first_message(detail), fields=fields),
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, exceptions.APIException):
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            # Round up: "Retry-After: 0" after 0.4 s would invite an immediate retry.
            headers["Retry-After"] = str(max(1, math.ceil(exc.wait)))
        error_type = next(
            (name for cls, name in _TYPES.items() if isinstance(exc, cls)),
            exc.default_code,
        )
        return Response(
            envelope(error_type, _first_message(exc.detail)),
            status=exc.status_code,
            headers=headers,
        )

    # Anything else is a bug: log it with its traceback, answer a plain 500.
    view = context.get("view")
    logger.exception("Unhandled API error in %s", type(view).__name__ if view else "?")
    return Response(
        envelope("internal_error", _("An unexpected error occurred. It has been logged.")),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
