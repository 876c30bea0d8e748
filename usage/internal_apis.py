"""``/internal/v1/usage`` — the inference plane reports what was used.

Shapes are a contract with another team: see docs/inference-plane.md. Composed, with the
service-token check, in ``hypereal_site.internal_urls``.
"""

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from billing.models import Endpoint
from hypereal_site.api.errors import ApplicationError
from orgs.access import InternalApi

from .ingest import usage_ingest


class UsageEventDocSerializer(serializers.Serializer):
    """One usage event (documentation; the ingestion path validates by hand for speed)."""

    request_id = serializers.CharField(
        max_length=128, help_text=gettext_lazy("Idempotency key, unique")
    )
    key_id = serializers.CharField(max_length=16)
    occurred_at = serializers.DateTimeField(
        help_text=gettext_lazy("ISO 8601 with a zone; ≤ 5 min ahead")
    )
    endpoint = serializers.ChoiceField(choices=Endpoint.choices)
    model = serializers.CharField(max_length=100)
    provider = serializers.CharField(max_length=64, required=False)
    status_code = serializers.IntegerField(min_value=100, max_value=599)
    latency_ms = serializers.IntegerField(min_value=0, required=False)
    input_tokens = serializers.IntegerField(min_value=0, required=False)
    output_tokens = serializers.IntegerField(min_value=0, required=False)
    images = serializers.IntegerField(min_value=0, required=False)
    seconds = serializers.IntegerField(min_value=0, required=False)
    clips = serializers.IntegerField(min_value=0, required=False)
    requests = serializers.IntegerField(min_value=0, required=False)
    tier = serializers.CharField(
        max_length=8, required=False, help_text=gettext_lazy("Image size tier")
    )


class UsageBatchDocSerializer(serializers.Serializer):
    events = UsageEventDocSerializer(many=True)


class UsageRejectionDocSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    request_id = serializers.CharField(allow_null=True)
    error = serializers.DictField()


class UsageResultDocSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = UsageRejectionDocSerializer(many=True)
    charged_microcredits = serializers.IntegerField()


class UsageIngestApi(InternalApi):
    @extend_schema(
        request=UsageBatchDocSerializer,
        responses=UsageResultDocSerializer,
        summary="Report usage events (at most 1000 per batch)",
    )
    def post(self, request: Request) -> Response:
        body = request.data
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise ApplicationError(
                "invalid_request", _('The body must be {"events": [...]}.'), status=400
            )
        if len(events) > settings.USAGE_BATCH_MAX:
            raise ApplicationError(
                "batch_too_large",
                _("At most %(max)s events per batch; got %(got)s.")
                % {"max": settings.USAGE_BATCH_MAX, "got": len(events)},
                status=413,
            )
        return Response(usage_ingest(events=events))
