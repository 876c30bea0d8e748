from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

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
