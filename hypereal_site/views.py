"""Console sections whose capability has not landed yet render an honest empty state.

Each is already gated by the role table for the current context, and shows its primary
action only to roles that may take it. Each section's own app replaces its entry here with
real views as the capability lands.
"""

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from orgs.access import context_view, public_view
from orgs.context import Context
from orgs.permissions import Perm

SECTIONS = {
    "deployments": {
        "title": _("Deployments"),
        "lead": _("Run your own Docker images on GPUs, billed per second."),
        "empty": _("No deployments yet."),
        "next": _("Deployments and GPU jobs will be listed here."),
        "view": Perm.DEPLOYMENTS_VIEW,
        "manage": Perm.DEPLOYMENTS_MANAGE,
        "action": _("New deployment"),
    },
}


def _section_view(name: str):
    section = SECTIONS[name]

    @context_view(section["view"])
    @require_GET
    def view(request: HttpRequest, context: Context) -> HttpResponse:
        return render(
            request,
            "console/section.html",
            {
                "section": section,
                "nav": name,
                "can_manage": context.allows(section["manage"]),
            },
        )

    view.__name__ = f"{name}_section"
    return view


deployments_section = _section_view("deployments")


@public_view
@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page says: send them to the real icon."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
