from django.urls import path

from . import apis

urlpatterns = [
    path("orgs", apis.OrgListCreateApi.as_view(), name="api-orgs"),
    path("orgs/<str:org_id>", apis.OrgDetailApi.as_view(), name="api-org"),
    path("orgs/<str:org_id>/transfer", apis.OrgTransferApi.as_view(), name="api-org-transfer"),
    path("orgs/<str:org_id>/leave", apis.OrgLeaveApi.as_view(), name="api-org-leave"),
    path("orgs/<str:org_id>/members", apis.MemberListApi.as_view(), name="api-org-members"),
    path(
        "orgs/<str:org_id>/members/<str:member_id>",
        apis.MemberDetailApi.as_view(),
        name="api-org-member",
    ),
    path(
        "orgs/<str:org_id>/invitations",
        apis.InvitationListCreateApi.as_view(),
        name="api-org-invitations",
    ),
    path(
        "orgs/<str:org_id>/invitations/<str:invitation_id>",
        apis.InvitationDetailApi.as_view(),
        name="api-org-invitation",
    ),
    path(
        "orgs/<str:org_id>/invitations/<str:invitation_id>/resend",
        apis.InvitationResendApi.as_view(),
        name="api-org-invitation-resend",
    ),
    path("orgs/<str:org_id>/audit", apis.AuditListApi.as_view(), name="api-org-audit"),
    path(
        "orgs/<str:org_id>/audit/export",
        apis.AuditExportApi.as_view(),
        name="api-org-audit-export",
    ),
]
