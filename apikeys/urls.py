from django.urls import path

from . import views

urlpatterns = [
    path("settings/organization/key-defaults", views.key_defaults_update, name="apikeys_defaults"),
    path("manage-api-keys", views.key_list, name="apikeys_list"),
    path("manage-api-keys/new", views.key_create, name="apikeys_create"),
    path("manage-api-keys/<str:public_id>", views.key_detail, name="apikeys_detail"),
    path("manage-api-keys/<str:public_id>/edit", views.key_edit, name="apikeys_edit"),
    path("manage-api-keys/<str:public_id>/rotate", views.key_rotate, name="apikeys_rotate"),
    path("manage-api-keys/<str:public_id>/revoke", views.key_revoke, name="apikeys_revoke"),
    path("manage-api-keys/<str:public_id>/enable", views.key_enable, name="apikeys_enable"),
]
