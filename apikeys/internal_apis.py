"""``/internal/v1/`` — the inference plane's API (``svc_`` service tokens only).

Shapes are a contract with another team: see docs/inference-plane.md.
"""

import json

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import catalog, ledger
from billing.models import Endpoint, Hold
from hypereal_site.api.errors import ApplicationError
from hypereal_site.text import is_clean_text, text_problem
from orgs.access import Access

from . import verification
from .authentication import IsService, ServiceTokenAuthentication
from .models import ApiKey

ENDPOINTS = frozenset(Endpoint.values)  # a set, not the enum's per-call list, on the hot path


class InternalApi(APIView):
    authentication_classes = [ServiceTokenAuthentication]
    permission_classes = [IsService]
    throttle_classes: list = []  # the gateway is trusted and hot; it has its own limits
    hypereal_access = Access("service")


class VerifyInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=200)
    model = serializers.CharField(max_length=100, required=False, allow_blank=True)
    endpoint = serializers.ChoiceField(choices=Endpoint.choices, required=False)
    n = serializers.IntegerField(min_value=1, max_value=10, required=False, default=1)
    tier = serializers.CharField(max_length=8, required=False, allow_blank=True, default="")


class VerifyOutputSerializer(serializers.Serializer):
    key = serializers.DictField()
    owner = serializers.DictField()
    user_id = serializers.CharField(allow_null=True)
    wallet = serializers.DictField()
    spending_limit_microcredits = serializers.IntegerField(allow_null=True)
    period = serializers.CharField()
    period_spend_microcredits = serializers.IntegerField()
    rate_limit = serializers.DictField()
    allowed_models = serializers.ListField(child=serializers.CharField(), allow_null=True)
    model = serializers.CharField(allow_null=True)
    cache_ttl_seconds = serializers.IntegerField()
    fallbacks = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="Only when a model was given: its provider targets, in order.",
    )


def _plain_json(request: Request):
    """The body of an ordinary ``application/json`` request, decoded without DRF's parser
    machinery (the hot path); None when DRF should handle it (and its errors)."""
    django_request = request._request
    if django_request.content_type != "application/json":
        return None
    try:
        return json.loads(django_request.body)
    except ValueError:
        return None


def _refuse_unstorable_text(body) -> None:
    """A 400 for text no database could hold, before DRF echoes it in an error message
    (a lone surrogate there would fail the JSON rendering: a 500)."""
    if not isinstance(body, dict):
        return
    for name, value in body.items():
        if isinstance(value, str) and (problem := text_problem(value)) is not None:
            field = name if is_clean_text(name) else "a field"
            raise ApplicationError("invalid_request", f"{field} {problem}.", status=400)


class KeyVerifyApi(InternalApi):
    @extend_schema(
        request=VerifyInputSerializer,
        responses=VerifyOutputSerializer,
        summary="May this key make this call?",
        description="Errors: 401 invalid_api_key, key_revoked, key_expired, key_disabled; "
        "402 spending_limit_exceeded, insufficient_credits; 400 unknown_model (with "
        "available_models), wrong_endpoint; 403 model_not_allowed.",
    )
    def post(self, request: Request) -> Response:
        body = _plain_json(request)
        if body is None:
            body = request.data  # DRF's parser: 415/400 envelopes for anything unusual
        # The hot path: a plain dict check instead of a serializer when the body is simple.
        if (
            isinstance(body, dict)
            and isinstance(body.get("key"), str)
            and set(body) <= {"key", "model", "endpoint"}
            and all(isinstance(body.get(f, ""), str) for f in ("model", "endpoint"))
            and (not body.get("endpoint") or body["endpoint"] in ENDPOINTS)
        ):
            data = {
                "key": body["key"],
                "model": body.get("model") or None,
                "endpoint": body.get("endpoint") or None,
            }
        else:
            _refuse_unstorable_text(body)
            serializer = VerifyInputSerializer(data=body)
            serializer.is_valid(raise_exception=True)
            v = serializer.validated_data
            data = {
                "key": v["key"],
                "model": v.get("model") or None,
                "endpoint": v.get("endpoint") or None,
                "n": v["n"],
                "tier": v["tier"],
            }
        return Response(verification.verify(**data))


class UsageEventDocSerializer(serializers.Serializer):
    """One usage event (documentation; the ingestion path validates by hand for speed)."""

    request_id = serializers.CharField(max_length=128, help_text="Idempotency key, unique")
    key_id = serializers.CharField(max_length=16)
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with a zone; ≤ 5 min ahead")
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
    tier = serializers.CharField(max_length=8, required=False, help_text="Image size tier")


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
        from django.conf import settings

        from usage.ingest import usage_ingest

        body = request.data
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise ApplicationError(
                "invalid_request", 'The body must be {"events": [...]}.', status=400
            )
        if len(events) > settings.USAGE_BATCH_MAX:
            raise ApplicationError(
                "batch_too_large",
                f"At most {settings.USAGE_BATCH_MAX} events per batch; got {len(events)}.",
                status=413,
            )
        return Response(usage_ingest(events=events))


def _key_for(public_id: str) -> ApiKey:
    key = ApiKey.objects.select_related("organization").filter(public_id=public_id).first()
    if key is None:
        raise ApplicationError("unknown_key", f"No API key {public_id!r}.", status=404)
    if key.status == ApiKey.Status.REVOKED or key.organization.is_deleted:
        raise ApplicationError("key_revoked", "This API key was revoked.", status=401)
    if key.status == ApiKey.Status.DISABLED:
        raise ApplicationError("key_disabled", "This API key is disabled.", status=401)
    if key.expires_at and key.expires_at <= timezone.now():
        raise ApplicationError("key_expired", "This API key has expired.", status=401)
    return key


class HoldOutputSerializer(serializers.Serializer):
    hold_id = serializers.CharField(source="public_id")
    status = serializers.CharField()
    amount_microcredits = serializers.IntegerField()
    captured_microcredits = serializers.IntegerField(allow_null=True)
    reference = serializers.CharField()
    expires_at = serializers.DateTimeField()


class HoldCreateApi(InternalApi):
    class HoldCreateInputSerializer(serializers.Serializer):
        key_id = serializers.CharField(max_length=16)
        amount_microcredits = serializers.IntegerField(min_value=1, max_value=10**15)
        reference = serializers.CharField(max_length=200)
        expires_in_seconds = serializers.IntegerField(
            min_value=1, max_value=ledger.MAX_HOLD_SECONDS, required=False, default=3600
        )

    @extend_schema(
        request=HoldCreateInputSerializer,
        responses={201: HoldOutputSerializer, 200: HoldOutputSerializer},
        summary="Reserve credits for a long job (402 insufficient_credits)",
    )
    def post(self, request: Request) -> Response:
        serializer = self.HoldCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = _key_for(data["key_id"])
        wallet = ledger.wallet_get_or_create(organization=key.organization)
        hold, created = ledger.hold_place(
            wallet=wallet,
            amount_microcredits=data["amount_microcredits"],
            reference=data["reference"],
            expires_in_seconds=data["expires_in_seconds"],
            key=key,
        )
        wallet.refresh_from_db(fields=["balance_microcredits", "held_microcredits"])
        body = HoldOutputSerializer(hold).data
        body["available_microcredits"] = wallet.available_microcredits
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _hold(public_id: str) -> Hold:
    if not is_clean_text(public_id):  # %00 in the URL: no such hold, not a database error
        raise ApplicationError("not_found", "No such hold.", status=404)
    hold = Hold.objects.select_related("wallet", "key").filter(public_id=public_id).first()
    if hold is None:
        raise ApplicationError("not_found", f"No hold {public_id!r}.", status=404)
    return hold


class HoldCaptureApi(InternalApi):
    class HoldCaptureInputSerializer(serializers.Serializer):
        amount_microcredits = serializers.IntegerField(min_value=0, max_value=10**15)
        event = serializers.DictField(required=False)

    @extend_schema(
        request=HoldCaptureInputSerializer,
        responses=HoldOutputSerializer,
        summary="Charge what the job used (≤ the hold); the rest is released",
    )
    def post(self, request: Request, hold_id: str) -> Response:
        from usage.ingest import hold_capture_with_event

        serializer = self.HoldCaptureInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hold = hold_capture_with_event(
            hold=_hold(hold_id),
            amount_microcredits=serializer.validated_data["amount_microcredits"],
            event=serializer.validated_data.get("event"),
        )
        return Response(HoldOutputSerializer(hold).data)


class HoldReleaseApi(InternalApi):
    @extend_schema(request=None, responses=HoldOutputSerializer, summary="Release a hold")
    def post(self, request: Request, hold_id: str) -> Response:
        hold = ledger.hold_release(hold=_hold(hold_id))
        return Response(HoldOutputSerializer(hold).data)


class CatalogApi(InternalApi):
    @extend_schema(
        parameters=[OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER)],
        responses=OpenApiTypes.OBJECT,
        summary="Active models with pricing, aliases, intents, fallback chains, minimums",
    )
    def get(self, request: Request):
        from billing.pricing import TOKEN_ENDPOINT_MIN_BALANCE, TOKEN_ENDPOINTS

        data = catalog.snapshot()
        etag = f'"{data["etag"]}"'
        if request.headers.get("If-None-Match") == etag:
            response = HttpResponse(status=304)
            response["ETag"] = etag
            return response
        body = {
            "models": [row for row in data["models"].values() if row["active"]],
            "aliases": data["aliases"],
            "intents": data["intents"],
            "minimum_balance": {
                "token_endpoints": sorted(TOKEN_ENDPOINTS),
                "token_endpoints_microcredits": TOKEN_ENDPOINT_MIN_BALANCE,
                "images": "unit price × n",
                "videos": "one clip, or the requested seconds × the per-second price",
                "audio": "one request",
            },
        }
        response = Response(body)
        response["ETag"] = etag
        return response
