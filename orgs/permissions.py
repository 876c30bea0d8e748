"""The five roles and what each may do: the single source of truth (docs/architecture.md's table).

Every view, API, admin action and later capability asks ``role_allows(role, perm)``
(usually through ``orgs.access``); nothing compares role names inline.
"""

from enum import StrEnum

from django.db import models
from django.utils.translation import pgettext_lazy


class Role(models.TextChoices):
    OWNER = "owner", pgettext_lazy("role", "Owner")
    ADMIN = "admin", pgettext_lazy("role", "Admin")
    DEVELOPER = "developer", pgettext_lazy("role", "Developer")
    BILLING = "billing", pgettext_lazy("role", "Billing")
    VIEWER = "viewer", pgettext_lazy("role", "Viewer")


class Perm(StrEnum):
    ORG_DELETE = "org.delete"  # delete the organization, transfer ownership
    ORG_SETTINGS = "org.settings"  # rename, change the slug
    MEMBERS_VIEW = "members.view"  # see who belongs (every member)
    MEMBERS_MANAGE = "members.manage"  # invite, change roles, remove (admins: not owners)
    SSO_MANAGE = "sso.manage"
    WEBHOOKS_MANAGE = "webhooks.manage"
    KEYS_VIEW = "keys.view"
    KEYS_MANAGE = "keys.manage"  # create, edit, rotate, revoke; lower a key's monthly cap
    KEYS_CAP_RAISE = "keys.cap_raise"  # raise or remove a key's monthly cap, turn off auto-disable
    KEYS_DEFAULT_CAP = "keys.default_cap"  # set the default monthly cap for new keys
    DEPLOYMENTS_VIEW = "deployments.view"
    DEPLOYMENTS_MANAGE = "deployments.manage"
    BILLING_VIEW = "billing.view"
    BILLING_MANAGE = "billing.manage"
    USAGE_VIEW = "usage.view"
    USAGE_EXPORT = "usage.export"
    AUDIT_VIEW = "audit.view"
    AUDIT_VIEW_ORIGIN = "audit.view_origin"  # the IP address and user agent of each event


_O, _A, _D, _B, _V = Role.OWNER, Role.ADMIN, Role.DEVELOPER, Role.BILLING, Role.VIEWER

#: permission -> the roles that hold it. Read it as the table in docs/architecture.md.
PERMISSION_ROLES: dict[Perm, frozenset[Role]] = {
    Perm.ORG_DELETE: frozenset({_O}),
    Perm.ORG_SETTINGS: frozenset({_O, _A}),
    Perm.MEMBERS_VIEW: frozenset({_O, _A, _D, _B, _V}),
    Perm.MEMBERS_MANAGE: frozenset({_O, _A}),
    Perm.SSO_MANAGE: frozenset({_O, _A}),
    Perm.WEBHOOKS_MANAGE: frozenset({_O, _A}),
    Perm.KEYS_VIEW: frozenset({_O, _A, _D, _V}),
    Perm.KEYS_MANAGE: frozenset({_O, _A, _D}),
    Perm.KEYS_CAP_RAISE: frozenset({_O, _A}),
    Perm.KEYS_DEFAULT_CAP: frozenset({_O, _A, _B}),
    Perm.DEPLOYMENTS_VIEW: frozenset({_O, _A, _D, _V}),
    Perm.DEPLOYMENTS_MANAGE: frozenset({_O, _A, _D}),
    Perm.BILLING_VIEW: frozenset({_O, _A, _B, _V}),
    Perm.BILLING_MANAGE: frozenset({_O, _B}),
    Perm.USAGE_VIEW: frozenset({_O, _A, _D, _B, _V}),
    Perm.USAGE_EXPORT: frozenset({_O, _A, _B, _V}),
    Perm.AUDIT_VIEW: frozenset({_O, _A, _B, _V}),
    # Where a change came from is personal data about members: only those who manage
    # members see it (billing reads the trail of money changes, not people's addresses).
    Perm.AUDIT_VIEW_ORIGIN: frozenset({_O, _A}),
}

assert set(PERMISSION_ROLES) == set(Perm), "every permission needs a row in the table"

#: How much a role may do, for the guard "an admin may not touch an owner".
ROLE_RANK = {_O: 4, _A: 3, _D: 2, _B: 2, _V: 1}


def role_allows(role: str | Role, perm: Perm) -> bool:
    return Role(role) in PERMISSION_ROLES[perm]
