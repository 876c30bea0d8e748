from django import template

from orgs.role_text import roles_needed, roles_sentence

register = template.Library()


@register.simple_tag
def roles_holding(perm: str) -> str:
    """``{% roles_holding "billing.manage" %}`` → "Owners and billing members", from the
    role table, for sentences such as "… can top up"."""
    return roles_sentence(perm)


@register.simple_tag
def role_labels_holding(perm: str) -> str:
    """``{% role_labels_holding "keys.manage" %}`` → "Owner, Admin or Developer"."""
    return roles_needed(perm)
