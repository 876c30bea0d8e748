"""``/internal/v1/keys/verify`` — the inference plane asks whether a key may make a call.

Shapes are a contract with another team: see docs/inference-plane.md. Composed, with the
service-token check, in ``hypereal_site.internal_urls``.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from billing.models import Endpoint
from hypereal_site.api.errors import ApplicationError
from hypereal_site.api.jsonbody import parse_json
from hypereal_site.text import field_refusal, is_clean_text, text_problem
from orgs.access import InternalApi

from . import verification

ENDPOINTS = frozenset(Endpoint.values)  # a set, not the enum's per-call list, on the hot path


class VerifyInputSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=200)
    model = serializers.CharField(max_length=100, required=False, allow_blank=True)
    endpoint = serializers.ChoiceField(choices=Endpoint.choices, required=False)
    n = serializers.IntegerField(min_value=1, max_value=10, required=False, default=1)
    tier = serializers.CharField(max_length=8, required=False, allow_blank=True, default="")
    estimate = serializers.DictField(
        required=False,
        help_text=gettext_lazy(
            "The call's worst case in the units its price uses: input_tokens, "
            "max_output_tokens, images, seconds, clips, requests (non-negative integers). "
            "Reserved against the key's cap and the wallet; without it a default per "
            "endpoint family is reserved."
        ),
    )


class VerifyOutputSerializer(serializers.Serializer):
    key = serializers.DictField()
    owner = serializers.DictField()
    user_id = serializers.CharField(allow_null=True)
    wallet = serializers.DictField()
    spending_limit_microcredits = serializers.IntegerField(allow_null=True)
    period = serializers.CharField()
    period_spend_microcredits = serializers.IntegerField()
    period_reserved_microcredits = serializers.IntegerField()
    reservation_id = serializers.CharField(
        allow_null=True,
        help_text=gettext_lazy(
            "Send it back on the call's usage event; null when nothing was reserved."
        ),
    )
    rate_limit = serializers.DictField()
    allowed_models = serializers.ListField(child=serializers.CharField(), allow_null=True)
    model = serializers.CharField(allow_null=True)
    cache_ttl_seconds = serializers.IntegerField()
    fallbacks = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text=gettext_lazy("Only when a model was given: its provider targets, in order."),
    )


def _plain_json(request: Request):
    """The body of an ordinary ``application/json`` request, decoded without DRF's parser
    machinery (the hot path); None when DRF should handle it (and its errors)."""
    django_request = request._request
    if django_request.content_type != "application/json":
        return None
    try:
        return parse_json(django_request.body)
    except ValueError:
        return None


def _refuse_unstorable_text(body) -> None:
    """A 400 for text no database could hold, before DRF echoes it in an error message
    (a lone surrogate there would fail the JSON rendering: a 500)."""
    if not isinstance(body, dict):
        return
    for name, value in body.items():
        if isinstance(value, str) and (problem := text_problem(value)) is not None:
            field = name if is_clean_text(name) else _("a field")
            raise ApplicationError("invalid_request", field_refusal(field, problem), status=400)


class KeyVerifyApi(InternalApi):
    @extend_schema(
        request=VerifyInputSerializer,
        responses=VerifyOutputSerializer,
        summary="May this key make this call?",
        description="Errors: 401 invalid_api_key, key_revoked, key_expired, key_disabled; "
        "402 spending_limit_exceeded, insufficient_credits; 400 unknown_model (with "
        "available_models), wrong_endpoint, invalid_request; 403 model_not_allowed; "
        "503 unavailable (a capped key while the reservation store is down).",
    )
    def post(self, request: Request) -> Response:
        body = _plain_json(request)
        if body is None:
            body = request.data  # DRF's parser: 415/400 envelopes for anything unusual
        # The hot path: a plain dict check instead of a serializer when the body is simple.
        if (
            isinstance(body, dict)
            and isinstance(body.get("key"), str)
            and set(body) <= {"key", "model", "endpoint", "estimate"}
            and all(isinstance(body.get(f, ""), str) for f in ("model", "endpoint"))
            and (not body.get("endpoint") or body["endpoint"] in ENDPOINTS)
        ):
            data = {
                "key": body["key"],
                "model": body.get("model") or None,
                "endpoint": body.get("endpoint") or None,
                "estimate": verification.parse_estimate(body.get("estimate")),
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
                "estimate": verification.parse_estimate(body.get("estimate")),
            }
        return Response(verification.verify(**data))
