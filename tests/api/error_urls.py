"""Test-only URLconf: the project's routes plus views under /api/ (and one page) that fail
on purpose, so the error handlers can be exercised end to end."""

import logging

from django.core.exceptions import PermissionDenied, SuspiciousOperation, ValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.http import require_POST
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from hypereal_site import urls as project_urls
from hypereal_site.api.errors import ApplicationError

logger = logging.getLogger("tests.api.views")

FAILURES = {
    "crash": lambda: RuntimeError("boom: the secret detail of the crash"),
    "application": lambda: ApplicationError(
        "insufficient_credits", "Not enough credits.", 402, extra={"balance": 0}
    ),
    "django-validation": lambda: ValidationError({"name": ["Too long."]}),
    "django-validation-list": lambda: ValidationError("Nothing to update."),
    "not-found": lambda: Http404("no such thing"),
    "permission-denied": lambda: PermissionDenied(),
    "suspicious": lambda: SuspiciousOperation("bad host"),
}


class FailingApi(APIView):
    """A DRF view that raises the named failure, or logs a line and answers 200."""

    permission_classes = [AllowAny]

    def get(self, request, kind: str) -> Response:
        if kind == "log":
            logger.warning("hello from inside the view")
            return Response({"ok": True})
        raise FAILURES[kind]()


def failing_view(request, kind: str) -> HttpResponse:
    """A plain Django view under /api/ (and a page outside it) that raises."""
    raise FAILURES[kind]()


@require_POST
def plain_post(request) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [
    path("api/test/drf/<slug:kind>", FailingApi.as_view()),
    path("api/test/plain/<slug:kind>", failing_view),
    path("api/test/plain-post", plain_post),
    path("test-page/<slug:kind>", failing_view),
    *project_urls.urlpatterns,
]

handler400 = project_urls.handler400
handler403 = project_urls.handler403
handler404 = project_urls.handler404
handler500 = project_urls.handler500
