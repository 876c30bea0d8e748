from django.urls import path

from . import signin_views, views

urlpatterns = [
    path("settings/organization/sso", views.sso_settings, name="sso_settings"),
    path("settings/organization/sso/new", views.connection_new, name="sso_connection_new"),
    path("settings/organization/sso/domains", views.domain_claim, name="sso_domain_claim"),
    path(
        "settings/organization/sso/domains/<str:domain>/verify",
        views.domain_verify,
        name="sso_domain_verify",
    ),
    path(
        "settings/organization/sso/domains/<str:domain>/remove",
        views.domain_remove,
        name="sso_domain_remove",
    ),
    path(
        "settings/organization/sso/<str:provider_id>",
        views.connection_edit,
        name="sso_connection",
    ),
    path(
        "settings/organization/sso/<str:provider_id>/sp-metadata.xml",
        views.connection_sp_metadata,
        name="sso_connection_sp_metadata",
    ),
    path(
        "settings/organization/sso/<str:provider_id>/delete",
        views.connection_delete,
        name="sso_connection_delete",
    ),
    path(
        "settings/organization/sso/<str:provider_id>/test",
        signin_views.connection_test,
        name="sso_connection_test",
    ),
    path(
        "settings/organization/sso/<str:provider_id>/test/<int:attempt_id>",
        signin_views.connection_test_result,
        name="sso_connection_test_result",
    ),
    path("sso/link/<str:provider_id>", signin_views.link, name="sso_link"),
]
