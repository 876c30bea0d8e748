"""``/internal/v1/holds`` and ``/internal/v1/catalog`` — credits reserved for a long job,
and the model catalog the gateway routes with.

Shapes are a contract with another team: see docs/inference-plane.md. Composed in
``hypereal_site.internal_urls``, which plugs in the service-token check and the two
collaborators from apps above billing: the API keys' rule for which key may hold credits
(``key_for_hold``) and usage's capture that records the job's event (``capture``).
"""

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from hypereal_site.api.errors import ApplicationError
from hypereal_site.text import is_clean_text
from orgs.access import InternalApi

from . import catalog, ledger
from .models import Hold
from .pricing import TOKEN_ENDPOINT_MIN_BALANCE, TOKEN_ENDPOINTS


def _collaborator(view, name: str):
    found = getattr(view, name)
    if found is None:
        raise ImproperlyConfigured(f"{type(view).__name__}.{name} is set where it is composed.")
    return found


class HoldOutputSerializer(serializers.Serializer):
    hold_id = serializers.CharField(source="public_id")
    status = serializers.CharField()
    amount_microcredits = serializers.IntegerField()
    captured_microcredits = serializers.IntegerField(allow_null=True)
    reference = serializers.CharField()
    expires_at = serializers.DateTimeField()


class HoldCreateApi(InternalApi):
    #: ``key_for_hold(public_id=…)`` → the usable key, or the refusal (apikeys).
    key_for_hold = None
    #: ``reserved_for(organization_id=…)`` → µcr reserved by the owner's calls in flight
    #: (apikeys): a hold and the answer's available balance leave them out.
    reserved_for = None

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
        key = _collaborator(self, "key_for_hold")(public_id=data["key_id"])
        wallet = ledger.wallet_get_or_create(organization=key.organization)
        reserved = _collaborator(self, "reserved_for")(organization_id=key.organization_id)
        hold, created = ledger.hold_place(
            wallet=wallet,
            amount_microcredits=data["amount_microcredits"],
            reference=data["reference"],
            expires_in_seconds=data["expires_in_seconds"],
            key=key,
            keep_available=reserved,
        )
        wallet.refresh_from_db(fields=["balance_microcredits", "held_microcredits"])
        body = HoldOutputSerializer(hold).data
        body["available_microcredits"] = wallet.available_microcredits - reserved
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _hold(public_id: str) -> Hold:
    if not is_clean_text(public_id):  # %00 in the URL: no such hold, not a database error
        raise ApplicationError("not_found", _("No such hold."), status=404)
    hold = Hold.objects.select_related("wallet", "key").filter(public_id=public_id).first()
    if hold is None:
        raise ApplicationError(
            "not_found", _("No hold %(id)s.") % {"id": repr(public_id)}, status=404
        )
    return hold


class HoldCaptureApi(InternalApi):
    #: ``capture(hold=…, amount_microcredits=…, event=…)`` → the captured hold, with the
    #: job's usage event recorded in the same transaction (usage).
    capture = None

    class HoldCaptureInputSerializer(serializers.Serializer):
        amount_microcredits = serializers.IntegerField(min_value=0, max_value=10**15)
        event = serializers.DictField(required=False)

    @extend_schema(
        request=HoldCaptureInputSerializer,
        responses=HoldOutputSerializer,
        summary="Charge what the job used (≤ the hold); the rest is released",
    )
    def post(self, request: Request, hold_id: str) -> Response:
        serializer = self.HoldCaptureInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hold = _collaborator(self, "capture")(
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
