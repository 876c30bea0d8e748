"""``/api/api-usage`` and ``/api/api-usage/export``: the usage of the session's current
context, with the filters of the ``/usage`` page as query parameters.

Amounts are credits written as exact JSON numbers (1234 µcr is ``0.001234``): DRF's
encoder turns a ``Decimal`` into a float, so these views render with ``ExactJSONRenderer``,
which writes every ``Decimal`` from its own digits. Unknown query parameters are refused
(400), so a typo never silently widens what an export contains.
"""

import json
from datetime import UTC
from decimal import Decimal

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from billing.models import CREDITS_PER_USD
from billing.money import credits_output
from hypereal_site.csvstream import stream_csv
from orgs.access import ContextApi
from orgs.permissions import Perm

from . import selectors, services
from .models import UsageEvent


def _dump(value, out: list[str]) -> None:
    if isinstance(value, Decimal):
        out.append(format(value, "f"))
    elif isinstance(value, dict):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(k), ensure_ascii=False))
            out.append(":")
            _dump(v, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _dump(v, out)
        out.append("]")
    else:
        out.append(json.dumps(value, ensure_ascii=False))


class ExactJSONRenderer(JSONRenderer):
    """JSON whose ``Decimal`` values are numbers written exactly (never via float)."""

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        out: list[str] = []
        _dump(data, out)
        return "".join(out).encode()


def _credits(microcredits: int) -> int | Decimal:
    return credits_output(microcredits)


def _usd(microcredits: int) -> Decimal:
    return Decimal(microcredits).scaleb(-6) / CREDITS_PER_USD


def log_row(event: UsageEvent) -> dict:
    return {
        "id": event.request_id,
        "requestId": event.request_id,
        "createdAt": event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "keyId": event.key.public_id,
        "keyName": event.key.name,
        "endpoint": event.endpoint,
        "model": event.model,
        "provider": event.provider,
        "statusCode": event.status_code,
        "latencyMs": event.latency_ms,
        "inputTokens": event.input_tokens,
        "outputTokens": event.output_tokens,
        "images": event.images,
        "seconds": event.seconds,
        "clips": event.clips,
        "requests": event.requests,
        "costCredits": _credits(event.cost_microcredits),
    }


_PARAMETERS = [
    OpenApiParameter("days", OpenApiTypes.INT, description="1–366 (default 30)"),
    OpenApiParameter("from", OpenApiTypes.STR, description="date or ISO time (viewer's zone)"),
    OpenApiParameter("to", OpenApiTypes.STR, description="date (inclusive) or ISO time"),
    OpenApiParameter("key", OpenApiTypes.STR, description="key id"),
    OpenApiParameter("model", OpenApiTypes.STR),
    OpenApiParameter("endpoint", OpenApiTypes.STR),
    OpenApiParameter("status", OpenApiTypes.STR, description="2xx, 4xx, 5xx or a code"),
    OpenApiParameter("minLatencyMs", OpenApiTypes.INT),
    OpenApiParameter("maxLatencyMs", OpenApiTypes.INT),
    OpenApiParameter("minCost", OpenApiTypes.NUMBER, description="credits"),
    OpenApiParameter("maxCost", OpenApiTypes.NUMBER, description="credits"),
    OpenApiParameter("q", OpenApiTypes.STR, description="request id"),
]


def _filter(request: Request, organization) -> selectors.UsageFilter:
    return selectors.usage_filter_parse(
        organization=organization,
        params=request.query_params,
        tz=selectors.viewer_zone(request.user),
    )


def usage_report(f: selectors.UsageFilter, *, cursor: str = "", limit: int) -> dict:
    logs, next_cursor = selectors.usage_log_page(f, cursor=cursor, limit=limit)
    overview = selectors.usage_overview(f)
    totals = overview.totals
    return {
        "logs": [log_row(e) for e in logs],
        "costByModel": [
            {"model": r["model"], "requests": r["requests"], "costCredits": _credits(r["cost"])}
            for r in overview.by_model
        ],
        "topExpensiveRequests": [log_row(e) for e in selectors.usage_top_expensive(f)],
        "totals": {
            "requests": totals["requests"],
            "inputTokens": totals["input_tokens"],
            "outputTokens": totals["output_tokens"],
            "images": totals["images"],
            "seconds": totals["seconds"],
            "costCredits": _credits(totals["cost"]),
            "costUsd": _usd(totals["cost"]),
        },
        "daily": [
            {
                "date": d["date"].isoformat(),
                "requests": d["requests"],
                "costCredits": _credits(d["cost"]),
            }
            for d in overview.daily()
        ],
        "nextCursor": next_cursor,
    }


class UsageApi(ContextApi):
    permissions = {"GET": Perm.USAGE_VIEW}
    renderer_classes = [ExactJSONRenderer]

    @extend_schema(
        parameters=[
            *_PARAMETERS,
            OpenApiParameter("cursor", OpenApiTypes.STR, description="nextCursor of a page"),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–1000 (default 100)"),
        ],
        responses=OpenApiTypes.OBJECT,
        summary="Usage: the log (keyset pages) and the range's aggregates",
    )
    def get(self, request: Request) -> Response:
        f = _filter(request, self.organization)
        limit = selectors.usage_limit_parse(request.query_params)
        cursor = (request.query_params.get("cursor") or "").strip()
        return Response(usage_report(f, cursor=cursor, limit=limit))


class UsageExportApi(ContextApi):
    permissions = {"GET": Perm.USAGE_EXPORT}
    # No HEAD: every export is audited, and a HEAD would record one that nobody received.
    http_method_names = ["get", "options"]

    @extend_schema(
        parameters=_PARAMETERS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
        summary="Usage as a CSV download",
    )
    def get(self, request: Request):
        params = request.query_params.copy()
        for ignored in ("cursor", "limit"):  # the export is the whole range
            params.pop(ignored, None)
        f = selectors.usage_filter_parse(
            organization=self.organization,
            params=params,
            tz=selectors.viewer_zone(request.user),
        )
        return usage_export_response(f, actor=request.user)


def usage_export_response(f: selectors.UsageFilter, *, actor):
    """The streamed CSV of ``f``, oldest row first, after its audit event."""
    services.usage_export_record(f=f, actor=actor)
    return stream_csv(
        selectors.usage_events(f).order_by("occurred_at", "pk"),
        selectors.USAGE_CSV_COLUMNS,
        filename=f"hypereal-usage-{timezone.now():%Y-%m-%d}.csv",
    )
