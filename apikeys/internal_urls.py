from django.urls import path

from . import internal_apis

urlpatterns = [
    path("keys/verify", internal_apis.KeyVerifyApi.as_view(), name="internal-keys-verify"),
    path("usage", internal_apis.UsageIngestApi.as_view(), name="internal-usage"),
    path("holds", internal_apis.HoldCreateApi.as_view(), name="internal-holds"),
    path(
        "holds/<str:hold_id>/capture",
        internal_apis.HoldCaptureApi.as_view(),
        name="internal-hold-capture",
    ),
    path(
        "holds/<str:hold_id>/release",
        internal_apis.HoldReleaseApi.as_view(),
        name="internal-hold-release",
    ),
    path("catalog", internal_apis.CatalogApi.as_view(), name="internal-catalog"),
]
