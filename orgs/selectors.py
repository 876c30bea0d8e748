from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.models import User

from .models import AuditEvent, Invitation, Membership, Organization
from .permissions import Role


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

    Another tenant's organization and a missing one look the same (DESIGN.md).
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
