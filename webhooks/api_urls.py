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
    # A deployment's own webhook URL (the deployment itself is infra.api_urls').
    path(
        "deployments/<str:slug>/deliveries",
        apis.DeploymentDeliveriesApi.as_view(),
        name="api-deployment-deliveries",
    ),
    path(
        "deployments/<str:slug>/deliveries/<str:delivery_id>/resend",
        apis.DeploymentDeliveryResendApi.as_view(),
        name="api-deployment-resend",
    ),
    path(
        "deployments/<str:slug>/webhook-test",
        apis.DeploymentWebhookTestApi.as_view(),
        name="api-deployment-webhook-test",
    ),
]
