from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import get_resolver

from .api.views import request_too_large
from .requestid import new_request_id, reset_request_id, set_request_id


class RequestIdMiddleware:
    """Gives every request an id (the client's ``X-Request-ID`` when it sends a sane one),
    exposes it to logging for the request's lifetime and echoes it on the response."""

    header = "X-Request-ID"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = new_request_id(request.headers.get(self.header))
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response[self.header] = request_id
        return response


def _unstorable(text: str) -> bool:
    """What PostgreSQL refuses in a text value: NUL, and lone surrogates (not UTF-8)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _query_is_utf8(query_string: str) -> bool:
    """Whether the percent-decoded query string is UTF-8 (an encoded lone surrogate such as
    ``%ED%A0%80`` is not)."""
    if "%" not in query_string and query_string.isascii():
        return True
    raw = unquote_to_bytes(query_string.replace("+", " "))
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _holds_unstorable(query) -> bool:
    return any(
        _unstorable(name) or any(_unstorable(value) for value in values)
        for name, values in query.lists()
    )


_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def body_limit(path: str) -> int:
    """The largest body ``path`` accepts, from ``REQUEST_BODY_LIMITS`` (first match)."""
    for prefix, limit in settings.REQUEST_BODY_LIMITS:
        if path.startswith(prefix):
            return limit
    return settings.REQUEST_BODY_LIMIT_DEFAULT


class HeaderSanitizingMiddleware:
    """Early in the chain, before anything stores a header or looks a cookie up: NUL bytes
    are removed from request headers (allauth stores the user agent, the audit log keeps
    it) and a cookie holding one is dropped (a session key with a NUL would reach the
    session table). PostgreSQL refuses NUL in text, so either was a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        for name, value in list(meta.items()):
            if name.startswith("HTTP_") and isinstance(value, str) and "\x00" in value:
                meta[name] = value.replace("\x00", "")
        if any(_unstorable(k) or _unstorable(v) for k, v in request.COOKIES.items()):
            request.COOKIES = {
                k: v for k, v in request.COOKIES.items() if not (_unstorable(k) or _unstorable(v))
            }
        return self.get_response(request)


class HostileInputMiddleware:
    """Turns input no view can use into the right 4xx before any view sees it, once for
    every URL instead of in each view:

    - a NUL byte or a lone surrogate in the path: 404 (no id of ours holds one, and
      PostgreSQL would refuse it in a lookup with a 500);
    - the same in a query parameter or a form field (name or value): 400;
    - a body larger than the endpoint's limit (``REQUEST_BODY_LIMITS``): 413, before a
      byte of it is read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _unstorable(request.path):
            raise Http404("No such page.")
        if not _query_is_utf8(request.META.get("QUERY_STRING", "")):
            # Django would decode it with U+FFFD replacements: refuse instead of guessing.
            return self._bad_request(request, "The query string is not UTF-8.")
        if _holds_unstorable(request.GET):
            return self._bad_request(request, "A query parameter holds a NUL character.")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return self._bad_request(request, "Content-Length is not a number.")
        limit = body_limit(request.path)
        if length > limit:
            return request_too_large(request, limit)
        # Form bodies only (request.POST is empty for JSON, which the parsers check).
        is_form = request.method == "POST" and request.content_type in _FORM_TYPES
        if is_form and _holds_unstorable(request.POST):
            return self._bad_request(request, "A form field holds a NUL character.")
        return self.get_response(request)

    @staticmethod
    def _bad_request(request: HttpRequest, reason: str) -> HttpResponse:
        # The project's 400 handler (envelope or page), answered rather than raised: a
        # raised BadRequest would log a traceback for what is only a client's mistake.
        handler = get_resolver(getattr(request, "urlconf", None)).resolve_error_handler(400)
        return handler(request, BadRequest(reason))
