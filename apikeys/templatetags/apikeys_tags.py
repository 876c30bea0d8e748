"""Blocks of the keys app shown on other apps' pages (the organization settings), so that
those apps render them without importing ``apikeys``."""

from django import template

from orgs.permissions import Perm

from ..forms import DefaultKeyLimitForm

register = template.Library()


@register.inclusion_tag("apikeys/_key_defaults.html", takes_context=True)
def key_defaults_card(context) -> dict:
    """The default monthly cap for new keys: a form for Perm.KEYS_DEFAULT_CAP, else a fact.
    Expects the page's ``org`` and ``context`` (and a bound ``key_defaults_form`` after a
    failed save)."""
    org = context["org"]
    limit = org.default_key_spending_limit_microcredits
    return {
        "csrf_token": context.get("csrf_token"),
        "can_set": context["context"].allows(Perm.KEYS_DEFAULT_CAP),
        "limit": limit,
        "form": context.get("key_defaults_form")
        or DefaultKeyLimitForm(initial={"default_key_spending_limit": limit}),
    }
