from django.urls import path

from . import apis, signin_views

urlpatterns = [
    # Signing in (sso/signin_views.py): the login page's routing API, then the endpoints the
    # IdPs send browsers back to (HTML and redirects, not JSON).
    path("auth/sso/start", signin_views.sso_start_api, name="api-sso-start"),
    path("auth/sso/<str:provider_id>", signin_views.saml_acs, name="sso_saml_acs"),
    path(
        "auth/sso/<str:provider_id>/callback",
        signin_views.oidc_callback,
        name="sso_oidc_callback",
    ),
    path("auth/sso/<str:provider_id>/metadata", signin_views.sp_metadata, name="sso_sp_metadata"),
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
