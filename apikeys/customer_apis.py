"""``/v1/`` endpoints a customer calls with their own ``ck_`` key (any of the four forms)."""

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.selectors import wallet_balances
from orgs.access import Access

from . import reservations, selectors
from .authentication import CustomerKeyAuthentication, IsCustomerKey


class CustomerApi(APIView):
    authentication_classes = [CustomerKeyAuthentication]
    permission_classes = [IsCustomerKey]
    throttle_classes: list = []
    hypereal_access = Access("customer_key")


class KeySelfOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    spending_limit_microcredits = serializers.IntegerField(allow_null=True)
    period = serializers.CharField()
    period_spend_microcredits = serializers.IntegerField()
    period_reserved_microcredits = serializers.IntegerField(
        help_text=gettext_lazy("Reserved by calls verified and not yet reported.")
    )
    balance_microcredits = serializers.IntegerField()
    available_microcredits = serializers.IntegerField(
        help_text=gettext_lazy("Balance − held − reserved by calls in flight.")
    )


class KeySelfApi(CustomerApi):
    @extend_schema(responses=KeySelfOutputSerializer, summary="The calling key and its balance")
    def get(self, request: Request) -> Response:
        key = request.auth
        wallet = wallet_balances(organization_id=key.organization_id)
        period = selectors.current_period()
        key_reserved, wallet_reserved = reservations.reserved(
            key_pk=key.pk, org_pk=key.organization_id, period=period
        )
        return Response(
            {
                "id": key.public_id,
                "name": key.name,
                "prefix": key.masked,
                "spending_limit_microcredits": key.spending_limit_microcredits,
                "period": period,
                "period_spend_microcredits": selectors.key_period_spend(key=key, period=period),
                "period_reserved_microcredits": key_reserved,
                "balance_microcredits": wallet["balance_microcredits"],
                "available_microcredits": wallet["available_microcredits"] - wallet_reserved,
            }
        )
