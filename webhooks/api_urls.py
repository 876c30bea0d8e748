from django.urls import path

from . import apis

urlpatterns = [
    path("webhooks", apis.EndpointListCreateApi.as_view(), name="api-webhooks"),
    path("webhooks/<str:endpoint_id>", apis.EndpointDetailApi.as_view(), name="api-webhook"),
    path(
        "webhooks/<str:endpoint_id>/rotate",
        apis.EndpointRotateApi.as_view(),
        name="api-webhook-rotate",
    ),
    path(
        "webhooks/<str:endpoint_id>/test", apis.EndpointTestApi.as_view(), name="api-webhook-test"
    ),
    path(
        "webhooks/<str:endpoint_id>/deliveries",
        apis.EndpointDeliveriesApi.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "webhooks/<str:endpoint_id>/deliveries/<str:delivery_id>/resend",
        apis.DeliveryResendApi.as_view(),
        name="api-webhook-resend",
    ),
]
