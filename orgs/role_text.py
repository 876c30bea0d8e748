"""Sentences about who may do what, generated from the role table (never written by hand).

``roles_sentence(Perm.BILLING_VIEW)`` → "Owners, admins, billing members and viewers", in the
order of ``Role``; the pages that explain a role's limits and the denied page use these, so
that changing ``PERMISSION_ROLES`` changes every sentence with it.
"""

from django.utils.text import capfirst, get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .permissions import PERMISSION_ROLES, Perm, Role

#: How a role is named when people holding it are counted ("owners", "billing members").
ROLE_PLURAL = {
    Role.OWNER: gettext_lazy("owners"),
    Role.ADMIN: gettext_lazy("admins"),
    Role.DEVELOPER: gettext_lazy("developers"),
    Role.BILLING: gettext_lazy("billing members"),
    Role.VIEWER: gettext_lazy("viewers"),
}


def roles_holding(perm: Perm | str) -> list[Role]:
    holders = PERMISSION_ROLES[Perm(perm)]
    return [role for role in Role if role in holders]


def roles_sentence(perm: Perm | str) -> str:
    """The roles holding ``perm`` as a list a person reads: "Owners, admins and viewers"."""
    names = [str(ROLE_PLURAL[role]) for role in roles_holding(perm)]
    return capfirst(get_text_list(names, _("and")))


def roles_needed(perm: Perm | str) -> str:
    """The role labels holding ``perm``, for "needs the role Owner or Admin"."""
    labels = [str(role.label) for role in roles_holding(perm)]
    return get_text_list(labels, _("or"))
