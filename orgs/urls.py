from django.urls import path

from . import views

urlpatterns = [
    path("settings/organization", views.org_settings, name="org_settings"),
    path("settings/organization/create", views.org_create, name="org_create"),
    path("settings/organization/update", views.org_update, name="org_update"),
    path("settings/organization/invitations", views.invitation_create, name="org_invite"),
    path(
        "settings/organization/invitations/<str:public_id>/resend",
        views.invitation_resend,
        name="org_invitation_resend",
    ),
    path(
        "settings/organization/invitations/<str:public_id>/revoke",
        views.invitation_revoke,
        name="org_invitation_revoke",
    ),
    path(
        "settings/organization/members/<str:public_id>/role",
        views.member_role,
        name="org_member_role",
    ),
    path(
        "settings/organization/members/<str:public_id>/remove",
        views.member_remove,
        name="org_member_remove",
    ),
    path("settings/organization/leave", views.org_leave, name="org_leave"),
    path("settings/organization/transfer", views.org_transfer, name="org_transfer"),
    path("settings/organization/delete", views.org_delete, name="org_delete"),
    path("settings/organization/audit", views.audit_log, name="org_audit"),
    path("settings/organization/audit.csv", views.audit_export, name="org_audit_export"),
    path("context/switch", views.context_switch_view, name="context_switch"),
    path("invitations/<str:token>", views.invitation_accept, name="invitation_accept"),
]
