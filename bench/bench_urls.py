"""The benchmark server's URLconf: the project's URLs plus ``/bench/trivial``.

``TrivialApi`` is the baseline of the verification benchmark: a DRF view in the same
server, through the same middleware, with no authentication, permission or throttle,
answering ``{"ok": true}``. Only ``bench.bench_settings`` points here.
"""

import os

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from hypereal_site.urls import urlpatterns as project_urlpatterns
from orgs.access import Access


class TrivialApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    hypereal_access = Access("public")

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True})


class WorkerPidMiddleware:
    """``X-Bench-Worker: <pid>`` on every response (bench server only)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Bench-Worker"] = str(os.getpid())
        return response


urlpatterns = [path("bench/trivial", TrivialApi.as_view()), *project_urlpatterns]
