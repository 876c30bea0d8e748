"""``/usage``: where the money went, for every role, in the personal account or a team.

Everything on the page reads one ``UsageFilter`` (range + filters, kept in the URL, the
same query parameters as ``/api/api-usage``); the charts are SVG drawn by our own
templates from the geometry computed here, in integers (no float touches money, and none
is needed for a percentage to three decimals).
"""

from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing import catalog
from billing.models import CatalogModel
from hypereal_site.api.errors import ApplicationError
from orgs.access import context_view
from orgs.context import Context
from orgs.permissions import Perm

from . import selectors
from .charts import OTHER, PALETTE, bars, donut, key_bars

LOG_PAGE = 50
PRESETS = (1, 7, 30, 90)
TOP = selectors.TOP_MODELS  # slices of the donut before "other"
STACKED_MODELS = 4  # models stacked in the daily bars before "other"


def _page_params(request: HttpRequest) -> QueryDict:
    """The page's query: a custom from/to wins over a preset, empty fields are dropped."""
    params = QueryDict(mutable=True)
    for name in selectors.PARAMETERS - {"limit"}:
        value = request.GET.get(name, "").strip()
        if value:
            params[name] = value
    if params.get("from") or params.get("to"):
        params.pop("days", None)
    return params


def _query(params: QueryDict, *drop: str) -> str:
    q = params.copy()
    for name in drop:
        q.pop(name, None)
    return q.urlencode()


@context_view(Perm.USAGE_VIEW)
@require_GET
def usage_dashboard(request: HttpRequest, context: Context) -> HttpResponse:
    org = context.organization
    tz = selectors.viewer_zone(request.user)
    params = _page_params(request)
    error = ""
    try:
        f = selectors.usage_filter_parse(organization=org, params=params, tz=tz, strict=False)
        cursor = params.get("cursor", "")
        logs, next_cursor = selectors.usage_log_page(f, cursor=cursor, limit=LOG_PAGE)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        error = exc.message
        params = QueryDict(mutable=True)
        f = selectors.usage_filter_parse(organization=org, params=params, tz=tz)
        cursor = ""
        logs, next_cursor = selectors.usage_log_page(f, limit=LOG_PAGE)
    query = _query(params, "cursor")
    page = {
        "nav": "usage",
        "f": f,
        "tz": tz,
        "logs": logs,
        "next_cursor": next_cursor,
        "query": query,
    }
    if request.htmx and cursor:  # "Load more": the next rows only
        return render(request, "usage/dashboard.html#log-rows", page)

    overview = selectors.usage_overview(f)
    totals = overview.totals
    by_model = overview.by_model
    slices = donut(by_model, totals["cost"])
    stacked = [r["model"] for r in by_model[:STACKED_MODELS]]
    colors = {s["model"]: s["color"] for s in slices}
    colors[OTHER] = PALETTE[-1]
    daily = overview.daily(split_models=stacked)
    by_key = selectors.usage_cost_by_key(f)
    filters_query = _query(params, "cursor", "days", "from", "to")
    return render(
        request,
        "usage/dashboard.html",
        {
            **page,
            "error": error,
            "params": params,
            "totals": totals,
            "slices": slices,
            "by_model": by_model,
            "stacked": [{"model": m, "color": colors[m]} for m in stacked],
            "has_other_stack": len(by_model) > STACKED_MODELS,
            "trend": bars(daily, stacked, colors),
            "by_key": key_bars(by_key),
            "key_chart_height": max(len(by_key), 1) * 10,
            "other_color": PALETTE[-1],
            "top": selectors.usage_top_expensive(f),
            "presets": [
                {
                    "days": d,
                    "current": f.days == d and not params.get("from") and not params.get("to"),
                    "query": f"days={d}" + (f"&{filters_query}" if filters_query else ""),
                }
                for d in PRESETS
            ],
            "options": selectors.usage_filter_options(organization=org),
            "status_choices": ("2xx", "4xx", "5xx"),
            "ever": selectors.usage_seen(organization=org),
            "start_local": f.start.astimezone(tz),
            "end_local": f.end.astimezone(tz),
        },
        status=400 if error else 200,
    )


@context_view(Perm.USAGE_VIEW)
@require_GET
def usage_request_detail(request: HttpRequest, context: Context, request_id: str) -> HttpResponse:
    event = selectors.usage_event_get(organization=context.organization, request_id=request_id)
    row = catalog.resolve(event.model)
    pricing = CatalogModel.Pricing(row["pricing"]).label if row else ""
    return render(
        request,
        "usage/request.html",
        {
            "nav": "usage",
            "e": event,
            "tz": selectors.viewer_zone(request.user),
            "catalog_row": row,
            "pricing": pricing,
        },
    )
