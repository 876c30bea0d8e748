from django import template

from orgs.audit_text import (
    AUDIT_ORIGIN_PERM,
    audit_action_label,
    audit_change_sentences,
    audit_target_label,
)
from orgs.context import current_context

register = template.Library()


@register.filter
def audit_changes(event) -> list[str]:
    return audit_change_sentences(event.before, event.after)


@register.filter
def audit_action(action: str) -> str:
    return audit_action_label(action)


@register.filter
def audit_target(target_type: str) -> str:
    return audit_target_label(target_type)


@register.simple_tag(takes_context=True)
def audit_origin_visible(context) -> bool:
    """Whether the viewer's role sees IP addresses and user agents (owners and admins)."""
    return current_context(context["request"]).allows(AUDIT_ORIGIN_PERM)
