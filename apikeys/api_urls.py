from django.urls import path

from . import apis

urlpatterns = [
    path("api-keys", apis.ApiKeyListCreateApi.as_view(), name="api-keys"),
    path("api-keys/<str:key_id>", apis.ApiKeyDetailApi.as_view(), name="api-key"),
    path("api-keys/<str:key_id>/rotate", apis.ApiKeyRotateApi.as_view(), name="api-key-rotate"),
    path(
        "orgs/<str:org_id>/key-defaults",
        apis.OrgKeyDefaultsApi.as_view(),
        name="api-org-key-defaults",
    ),
]
