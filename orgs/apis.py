"""The organizations API under ``/api/orgs``; each view calls the same service as the page."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from . import audit, selectors, services
from .access import AccountApi, OrgApi
from .permissions import Perm, Role, role_allows


class OrgOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="organization.public_id")
    name = serializers.CharField(source="organization.name")
    slug = serializers.CharField(source="organization.slug")
    role = serializers.CharField()
    created_at = serializers.DateTimeField(source="organization.created_at")


class MemberOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    user_id = serializers.CharField(source="user.public_id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    role = serializers.CharField()
    joined_at = serializers.DateTimeField(source="created_at")


class InvitationOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    email = serializers.EmailField()
    role = serializers.CharField()
    status = serializers.SerializerMethodField()
    invited_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()

    def get_status(self, invitation) -> str:
        return invitation.status()

    def get_invited_by(self, invitation) -> str | None:
        return invitation.invited_by.email if invitation.invited_by else None


class AuditEventOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    time = serializers.DateTimeField(source="created_at")
    action = serializers.CharField()
    actor = serializers.CharField(source="actor_label")
    target = serializers.SerializerMethodField()
    before = serializers.JSONField()
    after = serializers.JSONField()
    ip_address = serializers.CharField(
        allow_null=True, required=False, help_text=gettext_lazy("Owners and admins only")
    )
    user_agent = serializers.CharField(
        required=False, help_text=gettext_lazy("Owners and admins only")
    )
    request_id = serializers.CharField()

    def to_representation(self, event) -> dict:
        data = super().to_representation(event)
        if not self.context.get("show_origin"):
            del data["ip_address"], data["user_agent"]
        return data

    def get_target(self, event) -> dict | None:
        if not event.target_type:
            return None
        return {"type": event.target_type, "id": event.target_id, "label": event.target_label}


def _org_payload(membership) -> dict:
    return OrgOutputSerializer(membership).data


# --- /api/orgs ------------------------------------------------------------------------


class OrgListCreateApi(AccountApi):
    class OrgCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        slug = serializers.CharField(max_length=48, required=False, allow_blank=True)

    @extend_schema(responses=OrgOutputSerializer(many=True), summary="Your organizations")
    def get(self, request: Request) -> Response:
        memberships = selectors.user_team_memberships(user=request.user)
        return Response({"organizations": OrgOutputSerializer(memberships, many=True).data})

    @extend_schema(
        request=OrgCreateInputSerializer,
        responses={201: OrgOutputSerializer},
        summary="Create an organization (you become its owner)",
    )
    def post(self, request: Request) -> Response:
        serializer = self.OrgCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        org = services.org_create(actor=request.user, **serializer.validated_data)
        membership = selectors.membership_get(organization=org, user=request.user)
        return Response(_org_payload(membership), status=status.HTTP_201_CREATED)


class OrgDetailApi(OrgApi):
    permissions = {"GET": Perm.MEMBERS_VIEW, "PATCH": Perm.ORG_SETTINGS, "DELETE": Perm.ORG_DELETE}

    class OrgUpdateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        slug = serializers.CharField(max_length=48, required=False)

    class OrgDeleteInputSerializer(serializers.Serializer):
        confirm_slug = serializers.CharField()

    @extend_schema(responses=OrgOutputSerializer, summary="One organization")
    def get(self, request: Request, org_id: str) -> Response:
        return Response(_org_payload(self.membership))

    @extend_schema(
        request=OrgUpdateInputSerializer, responses=OrgOutputSerializer, summary="Rename"
    )
    def patch(self, request: Request, org_id: str) -> Response:
        serializer = self.OrgUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.org_update(
            organization=self.organization, actor=request.user, **serializer.validated_data
        )
        self.membership.refresh_from_db()
        self.membership.organization.refresh_from_db()
        return Response(_org_payload(self.membership))

    @extend_schema(
        request=OrgDeleteInputSerializer,
        responses={204: None},
        summary="Delete the organization (owner; confirm with its slug)",
    )
    def delete(self, request: Request, org_id: str) -> Response:
        serializer = self.OrgDeleteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.org_delete(
            organization=self.organization,
            actor=request.user,
            confirm_slug=serializer.validated_data["confirm_slug"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrgTransferApi(OrgApi):
    permissions = {"POST": Perm.ORG_DELETE}

    class OrgTransferInputSerializer(serializers.Serializer):
        member_id = serializers.CharField()

    @extend_schema(
        request=OrgTransferInputSerializer,
        responses=MemberOutputSerializer,
        summary="Transfer ownership to a member (you become admin)",
    )
    def post(self, request: Request, org_id: str) -> Response:
        serializer = self.OrgTransferInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        target = selectors.member_get(
            organization=self.organization, public_id=serializer.validated_data["member_id"]
        )
        member = services.org_transfer_ownership(
            organization=self.organization, actor=request.user, to=target
        )
        return Response(MemberOutputSerializer(member).data)


class OrgLeaveApi(OrgApi):
    permissions = {"POST": Perm.MEMBERS_VIEW}

    @extend_schema(request=None, responses={204: None}, summary="Leave the organization")
    def post(self, request: Request, org_id: str) -> Response:
        services.member_leave(organization=self.organization, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- members --------------------------------------------------------------------------


class MemberListApi(OrgApi):
    permissions = {"GET": Perm.MEMBERS_VIEW}

    @extend_schema(responses=MemberOutputSerializer(many=True), summary="Members")
    def get(self, request: Request, org_id: str) -> Response:
        members = selectors.org_members(organization=self.organization)
        return Response({"members": MemberOutputSerializer(members, many=True).data})


class MemberDetailApi(OrgApi):
    permissions = {"PATCH": Perm.MEMBERS_MANAGE, "DELETE": Perm.MEMBERS_MANAGE}

    class MemberRoleInputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(
        request=MemberRoleInputSerializer, responses=MemberOutputSerializer, summary="Set role"
    )
    def patch(self, request: Request, org_id: str, member_id: str) -> Response:
        serializer = self.MemberRoleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = selectors.member_get(organization=self.organization, public_id=member_id)
        member = services.member_set_role(
            membership=member, actor=request.user, role=serializer.validated_data["role"]
        )
        return Response(MemberOutputSerializer(member).data)

    @extend_schema(request=None, responses={204: None}, summary="Remove a member")
    def delete(self, request: Request, org_id: str, member_id: str) -> Response:
        member = selectors.member_get(organization=self.organization, public_id=member_id)
        services.member_remove(membership=member, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- invitations ----------------------------------------------------------------------


class InvitationListCreateApi(OrgApi):
    permissions = {"GET": Perm.MEMBERS_MANAGE, "POST": Perm.MEMBERS_MANAGE}

    class InvitationCreateInputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(responses=InvitationOutputSerializer(many=True), summary="Open invitations")
    def get(self, request: Request, org_id: str) -> Response:
        invitations = selectors.org_open_invitations(organization=self.organization)
        return Response({"invitations": InvitationOutputSerializer(invitations, many=True).data})

    @extend_schema(
        request=InvitationCreateInputSerializer,
        responses={201: InvitationOutputSerializer},
        summary="Invite by email (the link is emailed, never returned)",
    )
    def post(self, request: Request, org_id: str) -> Response:
        serializer = self.InvitationCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, _token = services.invitation_create(
            organization=self.organization, actor=request.user, **serializer.validated_data
        )
        return Response(InvitationOutputSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailApi(OrgApi):
    permissions = {"DELETE": Perm.MEMBERS_MANAGE}

    @extend_schema(request=None, responses={204: None}, summary="Revoke an invitation")
    def delete(self, request: Request, org_id: str, invitation_id: str) -> Response:
        invitation = selectors.invitation_get(
            organization=self.organization, public_id=invitation_id
        )
        services.invitation_revoke(invitation=invitation, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationResendApi(OrgApi):
    permissions = {"POST": Perm.MEMBERS_MANAGE}

    @extend_schema(
        request=None,
        responses=InvitationOutputSerializer,
        summary="Resend (new link, the old one dies)",
    )
    def post(self, request: Request, org_id: str, invitation_id: str) -> Response:
        invitation = selectors.invitation_get(
            organization=self.organization, public_id=invitation_id
        )
        invitation, _token = services.invitation_resend(invitation=invitation, actor=request.user)
        return Response(InvitationOutputSerializer(invitation).data)


# --- audit log ------------------------------------------------------------------------


class AuditPagination(CursorPagination):
    page_size = 50
    max_page_size = 500
    page_size_query_param = "limit"
    ordering = ("-created_at", "-id")


_AUDIT_TIME_RANGE = [
    MinValueValidator(audit.FILTER_EARLIEST_TIME),
    MaxValueValidator(audit.FILTER_LATEST_TIME),
]


class AuditFilterSerializer(serializers.Serializer):
    action = serializers.CharField(required=False, allow_blank=True, max_length=64)
    actor = serializers.CharField(required=False, allow_blank=True, max_length=254)
    since = serializers.DateTimeField(required=False, validators=_AUDIT_TIME_RANGE)
    until = serializers.DateTimeField(required=False, validators=_AUDIT_TIME_RANGE)

    def validate(self, data):
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise ValidationError({"until": _("Must be after since.")})
        return data


def _audit_query(request: Request, organization):
    filters = AuditFilterSerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    return selectors.audit_events(organization=organization, **filters.validated_data)


AUDIT_FILTER_PARAMS = [
    OpenApiParameter("action", str, description="Action or action prefix, e.g. member."),
    OpenApiParameter("actor", str, description="Part of the actor's email"),
    OpenApiParameter("since", datetime, description="ISO 8601, inclusive"),
    OpenApiParameter("until", datetime, description="ISO 8601, exclusive"),
]


class AuditListApi(OrgApi):
    permissions = {"GET": Perm.AUDIT_VIEW}

    @extend_schema(
        parameters=AUDIT_FILTER_PARAMS,
        responses=AuditEventOutputSerializer(many=True),
        summary="Audit events, newest first (cursor-paginated)",
    )
    def get(self, request: Request, org_id: str) -> Response:
        events = _audit_query(request, self.organization)
        paginator = AuditPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        show_origin = role_allows(self.membership.role, Perm.AUDIT_VIEW_ORIGIN)
        data = AuditEventOutputSerializer(page, many=True, context={"show_origin": show_origin})
        return paginator.get_paginated_response(data.data)


class AuditExportApi(OrgApi):
    permissions = {"GET": Perm.AUDIT_VIEW}

    @extend_schema(parameters=AUDIT_FILTER_PARAMS, responses={(200, "text/csv"): str})
    def get(self, request: Request, org_id: str):
        return audit.audit_csv_response(
            events=_audit_query(request, self.organization),
            organization=self.organization,
            show_origin=role_allows(self.membership.role, Perm.AUDIT_VIEW_ORIGIN),
        )
