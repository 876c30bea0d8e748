from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from orgs.access import context_view
from orgs.context import Context
from orgs.permissions import Perm

from . import selectors


@context_view(Perm.USAGE_VIEW)
@require_GET
def usage_dashboard(request: HttpRequest, context: Context) -> HttpResponse:
    """Until the usage capability lands: the true counts, and no claim of an empty page."""
    org = context.organization
    return render(
        request,
        "usage/dashboard.html",
        {
            "nav": "usage",
            "month": selectors.usage_month_summary(organization=org),
            "total_requests": selectors.usage_total_requests(organization=org),
        },
    )
