"""The current context: whose keys, usage, billing and deployments the pages show.

It is the personal account unless the session names a team organization the user still
belongs to. A user removed from an organization is moved back to the personal context on
their next request and never shown its data again.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpRequest
from django.utils.translation import gettext as _

from . import selectors
from .models import Membership, Organization
from .permissions import Perm, Role, role_allows
from .services import personal_org_get_or_create

SESSION_KEY = "hypereal.context"


@dataclass(frozen=True)
class Context:
    organization: Organization
    membership: Membership

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def is_personal(self) -> bool:
        return self.organization.is_personal

    def allows(self, perm: Perm | str) -> bool:
        # A personal account behaves as if its user owned a one-person organization.
        return role_allows(Role.OWNER if self.is_personal else self.role, Perm(perm))


def _personal(request: HttpRequest) -> Context:
    org = personal_org_get_or_create(user=request.user)
    membership = selectors.membership_get(organization=org, user=request.user)
    return Context(organization=org, membership=membership)


def current_context(request: HttpRequest) -> Context:
    cached = getattr(request, "_hypereal_context", None)
    if cached is not None:
        return cached
    context = None
    public_id = request.session.get(SESSION_KEY)
    if public_id:
        membership = (
            selectors.user_team_memberships(user=request.user)
            .filter(organization__public_id=public_id)
            .first()
        )
        if membership is not None:
            context = Context(organization=membership.organization, membership=membership)
        else:
            request.session.pop(SESSION_KEY, None)
            messages.warning(
                request,
                _(
                    "You no longer have access to that organization; "
                    "you are back in your personal account."
                ),
            )
    if context is None:
        context = _personal(request)
    request._hypereal_context = context
    return context


def context_switch(request: HttpRequest, *, public_id: str | None) -> Context:
    """Switch to a team organization (404 unless a member) or, with None, to personal."""
    request.__dict__.pop("_hypereal_context", None)
    if public_id:
        org, membership = selectors.org_get_for_member(user=request.user, public_id=public_id)
        request.session[SESSION_KEY] = org.public_id
        context = Context(organization=org, membership=membership)
    else:
        request.session.pop(SESSION_KEY, None)
        context = _personal(request)
    request._hypereal_context = context
    return context
