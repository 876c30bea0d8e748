"""``/internal/v1/`` — the inference plane's API, composed from the apps that serve it.

Each endpoint lives in its own domain's app (verification in apikeys, ingestion in usage,
holds and the catalog in billing). This module, above every app, plugs in what the apps
below the API keys app may not import themselves: the ``svc_`` service-token check, and
the collaborators the hold endpoints need from apikeys and usage.
"""

from django.urls import path

from apikeys import reservations, verification
from apikeys.authentication import IsService, ServiceTokenAuthentication
from apikeys.internal_apis import KeyVerifyApi
from billing.internal_apis import CatalogApi, HoldCaptureApi, HoldCreateApi, HoldReleaseApi
from usage.ingest import hold_capture_with_event
from usage.internal_apis import UsageIngestApi


def service_only(view_class, **collaborators):
    """The view for ``svc_`` tokens only (401 without one, 403 for any other principal)."""
    return view_class.as_view(
        authentication_classes=[ServiceTokenAuthentication],
        permission_classes=[IsService],
        **collaborators,
    )


# Full paths, spliced at the top of the root URLconf rather than ``include``d: the gateway
# calls verify and usage thousands of times a second, and every include level is one more
# resolver walked per call.
urlpatterns = [
    path("internal/v1/keys/verify", service_only(KeyVerifyApi), name="internal-keys-verify"),
    path("internal/v1/usage", service_only(UsageIngestApi), name="internal-usage"),
    path(
        "internal/v1/holds",
        service_only(
            HoldCreateApi,
            key_for_hold=verification.key_for_hold,
            reserved_for=reservations.wallet_reserved,
        ),
        name="internal-holds",
    ),
    path(
        "internal/v1/holds/<str:hold_id>/capture",
        service_only(HoldCaptureApi, capture=hold_capture_with_event),
        name="internal-hold-capture",
    ),
    path(
        "internal/v1/holds/<str:hold_id>/release",
        service_only(HoldReleaseApi),
        name="internal-hold-release",
    ),
    path("internal/v1/catalog", service_only(CatalogApi), name="internal-catalog"),
]
