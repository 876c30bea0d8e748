from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.models import User

from . import guards
from .models import AuditEvent, Invitation, Membership, Organization
from .permissions import PERMISSION_ROLES, Perm, Role


def membership_get(*, organization: Organization, user: User) -> Membership | None:
    if organization.is_deleted:
        return None
    return (
        Membership.objects.filter(organization=organization, user=user)
        .select_related("organization", "user")
        .first()
    )


def org_get_for_member(*, user: User, public_id: str) -> tuple[Organization, Membership]:
    """The team organization ``public_id`` with the user's membership; 404 for anyone else.

    Another tenant's organization and a missing one look the same (docs/architecture.md).
    """
    membership = (
        Membership.objects.filter(
            user=user,
            organization__public_id=public_id,
            organization__kind=Organization.Kind.TEAM,
            organization__deleted_at__isnull=True,
        )
        .select_related("organization", "user")
        .first()
    )
    if membership is None:
        raise Http404("No such organization.")
    return membership.organization, membership


def user_team_memberships(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(
            user=user,
            organization__kind=Organization.Kind.TEAM,
            organization__deleted_at__isnull=True,
        )
        .select_related("organization")
        .order_by("organization__name", "organization__id")
    )


def orgs_where_last_owner(*, user: User) -> list[Organization]:
    """Team organizations in which ``user`` is the only owner."""
    owned = Organization.objects.filter(
        kind=Organization.Kind.TEAM,
        deleted_at__isnull=True,
        memberships__user=user,
        memberships__role=Role.OWNER,
    )
    return list(
        Organization.objects.filter(pk__in=owned)
        .annotate(owners=Count("memberships", filter=Q(memberships__role=Role.OWNER)))
        .filter(owners=1)
        .order_by("name")
    )


def org_owner_count(*, organization: Organization) -> int:
    return Membership.objects.filter(organization=organization, role=Role.OWNER).count()


def org_owners(*, organization: Organization) -> list[User]:
    """Who to ask for a role: the organization's owners, by email."""
    return [
        m.user
        for m in Membership.objects.filter(organization=organization, role=Role.OWNER)
        .select_related("user")
        .order_by("user__email")
    ]


def org_members(*, organization: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__email")
    )


def member_get(*, organization: Organization, public_id: str) -> Membership:
    membership = (
        Membership.objects.filter(organization=organization, public_id=public_id)
        .select_related("user", "organization")
        .first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership


def org_open_invitations(*, organization: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, revoked_at__isnull=True
    ).order_by("-created_at")


def invitation_get(*, organization: Organization, public_id: str) -> Invitation:
    invitation = Invitation.objects.filter(organization=organization, public_id=public_id).first()
    if invitation is None:
        raise Http404("No such invitation.")
    return invitation


def audit_events(
    *,
    organization: Organization,
    action: str = "",
    actor: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Events newest first. ``action`` matches a prefix (``member.`` finds every member
    event); ``actor`` matches the kept actor label (email), case-insensitively."""
    events = AuditEvent.objects.filter(organization=organization)
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if since:
        events = events.filter(created_at__gte=since)
    if until:
        events = events.filter(created_at__lt=until)
    return events.order_by("-created_at", "-id")


def audit_actions(*, organization: Organization) -> list[str]:
    return list(
        AuditEvent.objects.filter(organization=organization)
        .order_by("action")
        .values_list("action", flat=True)
        .distinct()
    )


def members_with_perm(*, organization: Organization, perm: Perm) -> QuerySet[Membership]:
    """The members whose role holds ``perm`` (the role table decides who is told what; a
    personal account's user is its owner)."""
    return (
        Membership.objects.filter(organization=organization, role__in=PERMISSION_ROLES[perm])
        .select_related("user")
        .order_by("user__email")
    )


@dataclass(frozen=True)
class MemberActions:
    """What the viewer may do to one member, by the services' own guards (orgs.guards)."""

    member: Membership
    #: Roles the viewer may give this member, in table order; the current role is among
    #: them whenever any change is possible (so a form can preselect it).
    roles: tuple[Role, ...]
    can_remove: bool

    @property
    def can_change_role(self) -> bool:
        return any(role != self.member.role for role in self.roles)


def member_actions(
    *, viewer: Membership, members: list[Membership] | None = None
) -> list[MemberActions]:
    """For each member of the viewer's organization: which roles the viewer may set and
    whether they may remove them. Exactly what ``member_set_role``/``member_remove`` accept."""
    if members is None:
        members = list(org_members(organization=viewer.organization))
    owner_count = sum(1 for m in members if m.role == Role.OWNER)
    rows = []
    for member in members:
        roles = tuple(
            role
            for role in Role
            if guards.role_change_refusal(
                actor=viewer, target=member, role=role, owner_count=owner_count
            )
            is None
        )
        if not any(role != member.role for role in roles):
            roles = ()
        rows.append(
            MemberActions(
                member=member,
                roles=roles,
                can_remove=guards.removal_refusal(
                    actor=viewer, target=member, owner_count=owner_count
                )
                is None,
            )
        )
    return rows
