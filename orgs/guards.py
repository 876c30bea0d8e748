"""The member-management rules, written once: the services enforce them and the
``member_actions`` selector offers exactly what they allow.

Each function answers "why not?": an ``ApplicationError`` to raise, or None when allowed.
They read no database; callers pass the owner count they locked or loaded.
"""

from hypereal_site.api.errors import ApplicationError

from .models import Membership
from .permissions import ROLE_RANK, Perm, Role, role_allows


def _not_allowed(membership: Membership) -> ApplicationError:
    return ApplicationError(
        "permission_denied",
        f"Your role ({membership.get_role_display()}) does not allow this.",
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
            "permission_denied", "Only an owner can change or remove an owner.", status=403
        )
    if new_role == Role.OWNER and actor.role != Role.OWNER:
        return ApplicationError("permission_denied", "Only an owner can grant owner.", status=403)
    return None


def last_owner_refusal(target: Membership, owner_count: int, what: str) -> ApplicationError | None:
    """``what`` completes "The last owner cannot …" ("be removed", "leave")."""
    if target.role == Role.OWNER and owner_count <= 1:
        return ApplicationError(
            "last_owner",
            f"The last owner cannot {what}. Make someone else an owner first.",
            status=409,
        )
    return None


def role_change_refusal(
    *, actor: Membership, target: Membership, role: Role, owner_count: int
) -> ApplicationError | None:
    """May ``actor`` set ``target``'s role to ``role``? (Setting the current role is an
    accepted no-op once the other rules pass.)"""
    if target.pk == actor.pk:
        return ApplicationError(
            "cannot_change_own_role", "You cannot change your own role.", status=400
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
            "cannot_remove_self", "To leave the organization, use Leave.", status=400
        )
    return manage_refusal(actor, target) or last_owner_refusal(target, owner_count, "be removed")
