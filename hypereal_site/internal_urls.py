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


urlpatterns = [
    path("keys/verify", service_only(KeyVerifyApi), name="internal-keys-verify"),
    path("usage", service_only(UsageIngestApi), name="internal-usage"),
    path(
        "holds",
        service_only(
            HoldCreateApi,
            key_for_hold=verification.key_for_hold,
            reserved_for=reservations.wallet_reserved,
        ),
        name="internal-holds",
    ),
    path(
        "holds/<str:hold_id>/capture",
        service_only(HoldCaptureApi, capture=hold_capture_with_event),
        name="internal-hold-capture",
    ),
    path(
        "holds/<str:hold_id>/release",
        service_only(HoldReleaseApi),
        name="internal-hold-release",
    ),
    path("catalog", service_only(CatalogApi), name="internal-catalog"),
]
