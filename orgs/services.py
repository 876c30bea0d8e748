"""Every state change of organizations, memberships and invitations.

Each service takes ``actor=``, runs in one transaction and writes its audit event in it.
Guards that protect an organization from losing its owners lock the organization row, so
two concurrent demotions cannot both pass the "last owner" check.
"""

import hashlib
import re
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import User, normalize_email
from hypereal_site.api.errors import ApplicationError
from hypereal_site.text import isolate

from . import guards, selectors
from .audit import audit_record, target_of
from .emails import invitation_email_send
from .models import Invitation, Membership, Organization
from .permissions import Perm, Role, role_allows
from .signals import members_changed, organization_closing

INVITATION_TTL = timedelta(days=7)
#: Why a manager cannot resend or revoke an invitation, by ``Invitation.status()``.
INVITATION_CLOSED = {
    "accepted": gettext_lazy("This invitation was already accepted."),
    "revoked": gettext_lazy("This invitation was already revoked."),
}
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$")
RESERVED_SLUGS = frozenset(
    {"admin", "api", "internal", "v1", "settings", "new", "personal", "hypereal", "static"}
)


# --- helpers --------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Enter a name.")})
    if len(name) > 100:
        raise ValidationError({"name": _("Use at most 100 characters.")})
    return name


def _validate_slug(slug: str, *, exclude: Organization | None = None) -> str:
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise ValidationError(
            {
                "slug": _(
                    "Use 1 to 48 lowercase letters, digits and hyphens, "
                    "starting and ending with a letter or digit."
                )
            }
        )
    if slug in RESERVED_SLUGS:
        raise ValidationError(
            {"slug": _("“%(slug)s” is reserved. Choose another.") % {"slug": slug}}
        )
    taken = Organization.objects.filter(slug=slug)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError({"slug": _("The slug “%(slug)s” is already taken.") % {"slug": slug}})
    return slug


def _slug_from_name(name: str) -> str:
    base = slugify(name)[:40].strip("-") or "org"
    if base in RESERVED_SLUGS:
        base = f"{base}-org"
    candidate, n = base, 1
    while Organization.objects.filter(slug=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _lock_org(organization: Organization) -> Organization:
    return Organization.objects.select_for_update().get(pk=organization.pk)


def _actor_membership(*, organization: Organization, actor: User) -> Membership:
    membership = selectors.membership_get(organization=organization, user=actor)
    if membership is None:
        raise ApplicationError("not_found", _("No such organization."), status=404)
    return membership


def _require(membership: Membership, perm: Perm) -> None:
    if not role_allows(membership.role, perm):
        raise ApplicationError(
            "permission_denied",
            _("Your role (%(role)s) does not allow this.")
            % {"role": membership.get_role_display()},
            status=403,
        )


def _valid_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(Role.values)
        raise ValidationError(
            {"role": _("Choose one of: %(roles)s.") % {"roles": choices}}
        ) from None


# --- organizations --------------------------------------------------------------------


def personal_org_get_or_create(*, user: User) -> Organization:
    """The user's personal account (docs/architecture.md: one kind of owner), made on first need so
    that every way of creating a user (sign-up, admin, SSO) gets one."""
    org = Organization.objects.filter(personal_for=user).first()
    if org is not None:
        return org
    try:
        with transaction.atomic():
            org = Organization.objects.create(
                kind=Organization.Kind.PERSONAL, name="Personal account", personal_for=user
            )
            Membership.objects.create(organization=org, user=user, role=Role.OWNER)
    except IntegrityError:  # created concurrently by another request of the same user
        org = Organization.objects.get(personal_for=user)
    return org


@transaction.atomic
def org_create(*, actor: User, name: str, slug: str = "") -> Organization:
    name = _clean_name(name)
    slug = _validate_slug(slug) if slug else _slug_from_name(name)
    try:
        with transaction.atomic():
            org = Organization.objects.create(kind=Organization.Kind.TEAM, name=name, slug=slug)
    except IntegrityError:
        raise ValidationError(
            {"slug": _("The slug “%(slug)s” is already taken.") % {"slug": slug}}
        ) from None
    membership = Membership.objects.create(organization=org, user=actor, role=Role.OWNER)
    audit_record(
        organization=org,
        actor=actor,
        action="org.created",
        target=target_of(org),
        after={"name": name, "slug": slug},
    )
    audit_record(
        organization=org,
        actor=actor,
        action="member.joined",
        target=target_of(membership),
        after={"role": Role.OWNER},
    )
    return org


@transaction.atomic
def org_update(
    *, organization: Organization, actor: User, name: str | None = None, slug: str | None = None
) -> Organization:
    org = _lock_org(organization)
    _require(_actor_membership(organization=org, actor=actor), Perm.ORG_SETTINGS)
    changes: dict[str, str] = {}
    if name is not None:
        name = _clean_name(name)
        if name != org.name:
            changes["name"] = name
    if slug is not None:
        slug = slug.strip().lower()
        if slug != org.slug:
            changes["slug"] = _validate_slug(slug, exclude=org)
    if not changes:
        return org
    before = {field: getattr(org, field) for field in changes}
    for field, value in changes.items():
        setattr(org, field, value)
    try:
        with transaction.atomic():
            org.save(update_fields=list(changes))
    except IntegrityError:
        raise ValidationError({"slug": _("That slug is already taken.")}) from None
    audit_record(
        organization=org,
        actor=actor,
        action="org.renamed",
        target=target_of(org),
        before=before,
        after=changes,
    )
    return org


@transaction.atomic
def org_delete(*, organization: Organization, actor: User, confirm_slug: str) -> Organization:
    """Soft-delete: members lose access, open invitations die, keys are revoked; the row,
    its ledger and its audit history stay for staff."""
    org = _lock_org(organization)
    _require(_actor_membership(organization=org, actor=actor), Perm.ORG_DELETE)
    if (confirm_slug or "").strip() != org.slug:
        raise ValidationError(
            {"confirm_slug": _("Type the slug “%(slug)s” to confirm.") % {"slug": org.slug}}
        )
    now = timezone.now()
    members = [m.user.email for m in selectors.org_members(organization=org)]
    Invitation.objects.filter(
        organization=org, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    organization_closing.send(sender=Organization, organization=org, actor=actor)
    Membership.objects.filter(organization=org).delete()
    org.deleted_at = now
    org.save(update_fields=["deleted_at"])
    audit_record(
        organization=org,
        actor=actor,
        action="org.deleted",
        target=target_of(org),
        before={"members": members},
    )
    return org


@transaction.atomic
def org_transfer_ownership(
    *, organization: Organization, actor: User, to: Membership
) -> Membership:
    """Make ``to`` an owner and the acting owner an admin, in one transaction."""
    org = _lock_org(organization)
    actor_membership = _actor_membership(organization=org, actor=actor)
    _require(actor_membership, Perm.ORG_DELETE)
    target = Membership.objects.select_for_update().get(pk=to.pk, organization=org)
    if target.pk == actor_membership.pk:
        raise ApplicationError("invalid_transfer", _("You already own this organization."))
    previous = target.role
    target.role = Role.OWNER
    target.save(update_fields=["role"])
    actor_membership.role = Role.ADMIN
    actor_membership.save(update_fields=["role"])
    audit_record(
        organization=org,
        actor=actor,
        action="org.ownership_transferred",
        target=target_of(target),
        before={"owner": actor.email, "new_owner_role": previous},
        after={"owner": target.user.email, "previous_owner_role": Role.ADMIN},
    )
    return target


# --- members --------------------------------------------------------------------------


def _verifications_changed(org: Organization) -> None:
    """Membership changes refresh the organization's cached key verifications (the rule:
    the gateway never acts on an answer built before the team changed)."""
    members_changed.send(sender=Organization, organization_id=org.pk)


def _guard_last_owner(org: Organization, membership: Membership, what: str) -> None:
    """``what`` completes "The last owner cannot …" ("be removed", "leave")."""
    if membership.role == Role.OWNER:
        refusal = guards.last_owner_refusal(
            membership, selectors.org_owner_count(organization=org), what
        )
        if refusal is not None:
            raise refusal


@transaction.atomic
def member_set_role(*, membership: Membership, actor: User, role: str) -> Membership:
    role = _valid_role(role)
    org = _lock_org(membership.organization)
    actor_membership = _actor_membership(organization=org, actor=actor)
    target = Membership.objects.select_related("user").get(pk=membership.pk, organization=org)
    refusal = guards.role_change_refusal(
        actor=actor_membership,
        target=target,
        role=role,
        owner_count=selectors.org_owner_count(organization=org),
    )
    if refusal is not None:
        raise refusal
    if target.role == role:
        return target
    before = target.role
    target.role = role
    target.save(update_fields=["role"])
    audit_record(
        organization=org,
        actor=actor,
        action="member.role_changed",
        target=target_of(target),
        before={"role": before},
        after={"role": role},
    )
    return target


@transaction.atomic
def member_remove(*, membership: Membership, actor: User) -> None:
    org = _lock_org(membership.organization)
    actor_membership = _actor_membership(organization=org, actor=actor)
    target = Membership.objects.select_related("user").get(pk=membership.pk, organization=org)
    refusal = guards.removal_refusal(
        actor=actor_membership,
        target=target,
        owner_count=selectors.org_owner_count(organization=org),
    )
    if refusal is not None:
        raise refusal
    _verifications_changed(org)
    audit_record(
        organization=org,
        actor=actor,
        action="member.removed",
        target=target_of(target),
        before={"role": target.role},
    )
    target.delete()


@transaction.atomic
def member_leave(*, organization: Organization, actor: User) -> None:
    org = _lock_org(organization)
    membership = _actor_membership(organization=org, actor=actor)
    if org.is_personal:
        raise ApplicationError("invalid_request", _("You cannot leave your personal account."))
    _guard_last_owner(org, membership, "leave")
    _verifications_changed(org)
    audit_record(
        organization=org,
        actor=actor,
        action="member.left",
        target=target_of(membership),
        before={"role": membership.role},
    )
    membership.delete()


# --- invitations ----------------------------------------------------------------------


def _send_invitation_after_commit(invitation: Invitation, token: str) -> None:
    # The plaintext token exists only here and in the email: it is not stored and not
    # handed to the broker, so the mail goes out from this process right after commit.
    invitation_id = invitation.pk
    transaction.on_commit(lambda: invitation_email_send(invitation_id=invitation_id, token=token))


@transaction.atomic
def invitation_create(
    *, organization: Organization, actor: User, email: str, role: str
) -> tuple[Invitation, str]:
    """Invite ``email`` as ``role``; returns the invitation and its one-time token."""
    org = _lock_org(organization)
    if org.is_personal:
        raise ApplicationError("invalid_request", _("A personal account cannot invite members."))
    actor_membership = _actor_membership(organization=org, actor=actor)
    _require(actor_membership, Perm.MEMBERS_MANAGE)
    role = _valid_role(role)
    email = normalize_email(email)
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": _("Enter a valid email address.")}) from None
    if role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise ValidationError({"role": _("Only an owner can invite an owner.")})
    if Membership.objects.filter(organization=org, user__email__iexact=email).exists():
        raise ValidationError(
            {"email": _("%(email)s is already a member.") % {"email": isolate(email)}}
        )
    now = timezone.now()
    open_invites = Invitation.objects.select_for_update().filter(
        organization=org, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    )
    for existing in open_invites:
        if existing.expires_at > now:
            raise ValidationError(
                {
                    "email": _("%(email)s already has a pending invitation. Resend it instead.")
                    % {"email": isolate(email)}
                }
            )
        existing.revoked_at = now  # an expired invitation makes way for the new one
        existing.save(update_fields=["revoked_at"])
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=org,
        email=email,
        role=role,
        token_hash=_hash_token(token),
        invited_by=actor,
        expires_at=now + INVITATION_TTL,
    )
    audit_record(
        organization=org,
        actor=actor,
        action="member.invited",
        target=target_of(invitation),
        after={"email": email, "role": role},
    )
    _send_invitation_after_commit(invitation, token)
    return invitation, token


def _lock_open_invitation(invitation: Invitation, actor: User) -> tuple[Organization, Invitation]:
    """Lock the organization and the invitation for a manager's change; 409 if closed."""
    org = _lock_org(invitation.organization)
    _require(_actor_membership(organization=org, actor=actor), Perm.MEMBERS_MANAGE)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk, organization=org)
    if not invitation.is_open:
        raise ApplicationError(
            "invitation_closed",
            str(INVITATION_CLOSED[invitation.status()]),
            status=409,
        )
    return org, invitation


@transaction.atomic
def invitation_resend(*, invitation: Invitation, actor: User) -> tuple[Invitation, str]:
    """A new token and a fresh week; the old link stops working at once."""
    org, invitation = _lock_open_invitation(invitation, actor)
    token = secrets.token_urlsafe(32)
    invitation.token_hash = _hash_token(token)
    invitation.expires_at = timezone.now() + INVITATION_TTL
    invitation.save(update_fields=["token_hash", "expires_at"])
    audit_record(
        organization=org,
        actor=actor,
        action="invitation.resent",
        target=target_of(invitation),
    )
    _send_invitation_after_commit(invitation, token)
    return invitation, token


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: User) -> Invitation:
    org, invitation = _lock_open_invitation(invitation, actor)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        organization=org,
        actor=actor,
        action="invitation.revoked",
        target=target_of(invitation),
        before={"email": invitation.email, "role": invitation.role},
    )
    return invitation


class InvitationError(ApplicationError):
    """Why an invitation link cannot be used; the page shows ``message``."""


def invitation_lookup(*, token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(token_hash=_hash_token(token or ""))
        .first()
    )
    if invitation is None or invitation.organization.is_deleted:
        raise InvitationError(
            "invitation_invalid",
            _("This invitation link is not valid. It may have been replaced by a newer one."),
            status=404,
        )
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    invitation = invitation_lookup(token=token)
    org = _lock_org(invitation.organization)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    existing = selectors.membership_get(organization=org, user=user)
    # A used link says so to whoever holds it (as the page does), before any email check.
    if invitation.accepted_at is not None:
        if existing is not None and invitation.accepted_by_id == user.pk:
            return existing  # the same person clicking the link twice: harmless
        raise InvitationError(
            "invitation_used", _("This invitation has already been used."), status=409
        )
    if normalize_email(user.email) != normalize_email(invitation.email):
        raise InvitationError(
            "invitation_email_mismatch",
            _(
                "This invitation is for %(invited)s, but you are signed in as %(email)s. "
                "Sign in with the invited address to accept it."
            )
            % {"invited": isolate(invitation.email), "email": isolate(user.email)},
            status=403,
        )
    if invitation.revoked_at is not None:
        raise InvitationError(
            "invitation_revoked", _("This invitation was revoked by the organization."), status=410
        )
    if timezone.now() >= invitation.expires_at:
        raise InvitationError(
            "invitation_expired",
            _("This invitation has expired. Ask the organization to send a new one."),
            status=410,
        )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    if existing is not None:
        return existing  # already a member: keep the current role, change nothing else
    membership = Membership.objects.create(organization=org, user=user, role=invitation.role)
    audit_record(
        organization=org,
        actor=user,
        action="member.joined",
        target=target_of(membership),
        after={"role": invitation.role, "invitation": invitation.public_id},
    )
    return membership


@transaction.atomic
def user_orgs_detach(*, user: User) -> None:
    """Before an account is deleted: its team memberships end (audited in each
    organization) and its personal account is soft-deleted, keeping that account's
    ledger and audit history for staff."""
    memberships = Membership.objects.select_related("organization").filter(
        user=user, organization__kind=Organization.Kind.TEAM, organization__deleted_at__isnull=True
    )
    for membership in memberships:
        org = _lock_org(membership.organization)
        _guard_last_owner(org, membership, "delete their account")
        audit_record(
            organization=org,
            actor=user,
            action="member.left",
            target=target_of(membership),
            before={"role": membership.role},
            after={"reason": "account deleted"},
        )
    personal = Organization.objects.filter(personal_for=user).first()
    if personal is not None:
        # The account's keys die with it (revoked, audited, refused everywhere at once).
        organization_closing.send(sender=Organization, organization=personal, actor=user)
        personal.deleted_at = timezone.now()
        personal.save(update_fields=["deleted_at"])
        audit_record(
            organization=personal,
            actor=user,
            action="account.deleted",
            target=target_of(user),
        )
