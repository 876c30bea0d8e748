from django.urls import path

from . import views

urlpatterns = [
    path("settings/organization/webhooks", views.endpoint_list, name="webhooks_list"),
    path("settings/organization/webhooks/new", views.endpoint_create, name="webhooks_create"),
    path(
        "settings/organization/webhooks/<str:public_id>",
        views.endpoint_detail,
        name="webhooks_detail",
    ),
    path(
        "settings/organization/webhooks/<str:public_id>/edit",
        views.endpoint_edit,
        name="webhooks_edit",
    ),
    path(
        "settings/organization/webhooks/<str:public_id>/rotate",
        views.endpoint_rotate,
        name="webhooks_rotate",
    ),
    path(
        "settings/organization/webhooks/<str:public_id>/delete",
        views.endpoint_delete,
        name="webhooks_delete",
    ),
    path(
        "settings/organization/webhooks/<str:public_id>/test",
        views.endpoint_test,
        name="webhooks_test",
    ),
    path(
        "settings/organization/webhooks/<str:public_id>/deliveries/<str:event_id>/resend",
        views.message_resend,
        name="webhooks_resend",
    ),
    # A deployment's own webhook URL: its delivery log is a tab of the deployment's page.
    path(
        "infra/deployments/<slug:slug>/webhooks",
        views.deployment_deliveries,
        name="deployment_webhooks",
    ),
    path(
        "infra/deployments/<slug:slug>/webhooks/test",
        views.deployment_test,
        name="deployment_webhook_test",
    ),
    path(
        "infra/deployments/<slug:slug>/webhooks/<str:event_id>/resend",
        views.deployment_resend,
        name="deployment_webhook_resend",
    ),
]
