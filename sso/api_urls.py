from django.urls import path

from . import apis

urlpatterns = [
    path("orgs/<str:org_id>/sso", apis.ConnectionListCreateApi.as_view(), name="api-org-sso"),
    path(
        "orgs/<str:org_id>/sso/<str:provider_id>",
        apis.ConnectionDetailApi.as_view(),
        name="api-org-sso-connection",
    ),
    path("orgs/<str:org_id>/domains", apis.DomainListCreateApi.as_view(), name="api-org-domains"),
    path(
        "orgs/<str:org_id>/domains/<str:domain>",
        apis.DomainDetailApi.as_view(),
        name="api-org-domain",
    ),
    path(
        "orgs/<str:org_id>/domains/<str:domain>/verify",
        apis.DomainVerifyApi.as_view(),
        name="api-org-domain-verify",
    ),
]
