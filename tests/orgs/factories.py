"""Organizations and members built through the real services, as a user would make them.

``org_make`` runs ``org_create``; ``member_add`` invites and accepts through
``invitation_create``/``invitation_accept``. Their audit events (org.created, member.invited,
member.joined) are therefore part of every organization's history: tests that count audit
events count the ones written after their setup.
"""

from accounts.models import User
from orgs import services
from orgs.models import Membership, Organization
from orgs.permissions import Role
from tests.accounts.factories import UserFactory


def org_make(*, owner: User | None = None, name: str = "Acme Inc", slug: str = "") -> Organization:
    owner = owner or UserFactory()
    return services.org_create(actor=owner, name=name, slug=slug)


def org_owner(org: Organization) -> User:
    return Membership.objects.filter(organization=org, role=Role.OWNER).order_by("pk")[0].user


def member_add(
    org: Organization, *, role: str, user: User | None = None, by: User | None = None
) -> Membership:
    user = user or UserFactory()
    _invitation, token = services.invitation_create(
        organization=org, actor=by or org_owner(org), email=user.email, role=role
    )
    return services.invitation_accept(token=token, user=user)
