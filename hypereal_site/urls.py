from allauth.account.decorators import secure_admin_login
from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.views import login as email_first_login
from apikeys.customer_apis import KeySelfApi

from . import health, internal_urls
from .api.views import page_not_found
from .views import favicon

# Staff sign in through allauth, so a staff member with MFA must give the second factor.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Hypereal Console administration"
admin.site.site_title = "Hypereal Console admin"

api_patterns = [
    path("", include("accounts.api_urls")),
    path("", include("orgs.api_urls")),
    path("", include("sso.api_urls")),
    path("", include("apikeys.api_urls")),
    path("", include("usage.api_urls")),
    path("", include("infra.api_urls")),
    path("", include("webhooks.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (no inline script, as
    # the Content-Security-Policy requires); its template's one <style> block is allowed
    # on this page only.
    path(
        "docs/",
        csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
]

urlpatterns = [
    *internal_urls.urlpatterns,  # first: the gateway's hot path (verify, usage)
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("v1/key", KeySelfApi.as_view(), name="v1-key"),
    path("v1/", include("infra.customer_urls")),
    path("", include("infra.job_urls")),
    # Unknown API URLs answer the JSON envelope, never an HTML page.
    re_path(r"^(?:api|internal|v1)/", page_not_found, {"exception": None}, name="api-not-found"),
    # The login page asks for the email first (SSO routing), then allauth's password step.
    path("accounts/login/", email_first_login, name="account_login"),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("", include("orgs.urls")),
    path("", include("sso.urls")),
    path("", include("apikeys.urls")),
    path("", include("billing.urls")),
    path("", include("usage.urls")),
    path("", include("infra.urls")),
    path("", include("webhooks.urls")),
]

handler400 = "hypereal_site.api.views.bad_request"
handler403 = "hypereal_site.api.views.permission_denied"
handler404 = "hypereal_site.api.views.page_not_found"
handler500 = "hypereal_site.api.views.server_error"
