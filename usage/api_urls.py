from django.urls import path

from . import apis

urlpatterns = [
    path("api-usage", apis.UsageApi.as_view(), name="api-usage"),
    path("api-usage/export", apis.UsageExportApi.as_view(), name="api-usage-export"),
]
