"""The console's navigation and the current role's permissions, for every template.

A section is listed when the current context may open it. Whether it may is not written
here: it is read from the access marker of the section's view (``orgs.access``), which the
view itself enforces against the role table, so the menu and the server never disagree.
"""

from dataclasses import dataclass
from functools import cache

from django.http import HttpRequest
from django.urls import resolve, reverse
from django.utils.translation import gettext_lazy as _

from orgs.access import ACCESS_ATTR
from orgs.context import current_context
from orgs.permissions import Perm


@dataclass(frozen=True)
class Section:
    key: str  # what a view passes as ``nav`` to mark its section current
    url_name: str
    label: str


SECTIONS = (
    Section("dashboard", "dashboard", _("Dashboard")),
    Section("keys", "apikeys_list", _("API keys")),
    Section("usage", "usage_dashboard", _("Usage")),
    Section("billing", "billing_overview", _("Billing")),
    Section("models", "models", _("Models & pricing")),
    Section("deployments", "deployments_list", _("Deployments")),
    Section("organization", "org_settings", _("Organization")),
)


@cache
def section_access(url_name: str):
    """The access marker of the view behind ``url_name`` (public, account or a perm)."""
    return getattr(resolve(reverse(url_name)).func, ACCESS_ATTR)


def sections_for(context) -> list[dict]:
    allowed = []
    for section in SECTIONS:
        access = section_access(section.url_name)
        if access.kind == "context" and not context.allows(access.perm):
            continue
        url = reverse(section.url_name)
        allowed.append({"key": section.key, "url": url, "label": section.label})
    return allowed


def console_nav(request: HttpRequest) -> dict:
    """``nav_sections`` for the menu and ``can`` (``can.keys_manage`` …) for the pages."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    context = current_context(request)
    return {
        "nav_sections": sections_for(context),
        "can": {perm.name.lower(): context.allows(perm) for perm in Perm},
    }
