"""The member-management rules, written once: the services enforce them and the
``member_actions`` selector offers exactly what they allow.

Each function answers "why not?": an ``ApplicationError`` to raise, or None when allowed.
They read no database; callers pass the owner count they locked or loaded.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from hypereal_site.api.errors import ApplicationError

from .models import Membership
from .permissions import ROLE_RANK, Perm, Role, role_allows


def _not_allowed(membership: Membership) -> ApplicationError:
    return ApplicationError(
        "permission_denied",
        _("Your role (%(role)s) does not allow this.") % {"role": membership.get_role_display()},
        status=403,
    )


def manage_refusal(
    actor: Membership, target: Membership, new_role: Role | None = None
) -> ApplicationError | None:
    """Managers only; admins never touch owners nor grant owner."""
    if not role_allows(actor.role, Perm.MEMBERS_MANAGE):
        return _not_allowed(actor)
    actor_rank = ROLE_RANK[Role(actor.role)]
    if ROLE_RANK[Role(target.role)] > actor_rank or (
        target.role == Role.OWNER and actor.role != Role.OWNER
    ):
        return ApplicationError(
            "permission_denied", _("Only an owner can change or remove an owner."), status=403
        )
    if new_role == Role.OWNER and actor.role != Role.OWNER:
        return ApplicationError(
            "permission_denied", _("Only an owner can grant owner."), status=403
        )
    return None


#: What the last owner may not do, as whole sentences (a translation needs the sentence).
LAST_OWNER_MESSAGES = {
    "be demoted": gettext_lazy(
        "The last owner cannot be demoted. Make someone else an owner first."
    ),
    "be removed": gettext_lazy(
        "The last owner cannot be removed. Make someone else an owner first."
    ),
    "leave": gettext_lazy("The last owner cannot leave. Make someone else an owner first."),
}


def last_owner_refusal(target: Membership, owner_count: int, what: str) -> ApplicationError | None:
    """``what`` is a key of ``LAST_OWNER_MESSAGES`` ("be demoted", "be removed", "leave")."""
    if target.role == Role.OWNER and owner_count <= 1:
        return ApplicationError("last_owner", str(LAST_OWNER_MESSAGES[what]), status=409)
    return None


def role_change_refusal(
    *, actor: Membership, target: Membership, role: Role, owner_count: int
) -> ApplicationError | None:
    """May ``actor`` set ``target``'s role to ``role``? (Setting the current role is an
    accepted no-op once the other rules pass.)"""
    if target.pk == actor.pk:
        return ApplicationError(
            "cannot_change_own_role", _("You cannot change your own role."), status=400
        )
    refusal = manage_refusal(actor, target, new_role=role)
    if refusal is not None or target.role == role:
        return refusal
    if role != Role.OWNER:
        return last_owner_refusal(target, owner_count, "be demoted")
    return None


def removal_refusal(
    *, actor: Membership, target: Membership, owner_count: int
) -> ApplicationError | None:
    if target.pk == actor.pk:
        return ApplicationError(
            "cannot_remove_self", _("To leave the organization, use Leave."), status=400
        )
    return manage_refusal(actor, target) or last_owner_refusal(target, owner_count, "be removed")
