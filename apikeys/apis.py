"""``/api/api-keys`` — keys of the session's current context (personal or organization).

Field names follow the public reference: ``spendingLimit`` is in credits (50000 = 500 USD
a month); the exact µcr value is returned beside it.
"""

from decimal import Decimal

from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from billing.money import credits_output
from billing.serializers import CreditsInputField
from orgs.access import ContextApi, OrgApi
from orgs.permissions import Perm

from . import selectors, services


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    prefix = serializers.CharField(source="masked")
    status = serializers.CharField()
    spendingLimit = serializers.SerializerMethodField()
    spendingLimitMicrocredits = serializers.IntegerField(
        source="spending_limit_microcredits", allow_null=True
    )
    autoDisable = serializers.BooleanField(source="auto_disable")
    expiresAt = serializers.DateTimeField(source="expires_at", allow_null=True)
    allowedModels = serializers.ListField(source="allowed_models", child=serializers.CharField())
    createdAt = serializers.DateTimeField(source="created_at")
    createdBy = serializers.SerializerMethodField()
    lastUsedAt = serializers.DateTimeField(source="last_used_at", allow_null=True)
    periodSpendMicrocredits = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.NUMBER)
    def get_spendingLimit(self, key) -> int | Decimal | None:
        # Exact: an int when whole, else the decimal (≤ 6 places); µcr are beside it.
        return credits_output(key.spending_limit_microcredits)

    def get_createdBy(self, key) -> str | None:
        return key.created_by.email if key.created_by else None

    def get_periodSpendMicrocredits(self, key) -> int:
        spend = self.context.get("spend")
        if spend is not None:
            return spend.get(key.pk, 0)
        return selectors.key_period_spend(key=key)


class ApiKeyCreatedOutputSerializer(ApiKeyOutputSerializer):
    key = serializers.CharField(
        help_text=gettext_lazy("The plaintext key. Shown once; store it now.")
    )


def _limit_field() -> CreditsInputField:
    """Credits as the key form takes them: whole or up to 6 decimals, more than zero, at
    most a billion (``billing.money.credits_input``); null asks for no limit."""
    return CreditsInputField(min_microcredits=1, required=False, allow_null=True)


class ApiKeyListCreateApi(ContextApi):
    permissions = {"GET": Perm.KEYS_VIEW, "POST": Perm.KEYS_MANAGE}

    class ApiKeyCreateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        spendingLimit = _limit_field()
        autoDisable = serializers.BooleanField(required=False, default=False)
        expiresAt = serializers.DateTimeField(required=False, allow_null=True)
        allowedModels = serializers.ListField(
            child=serializers.CharField(max_length=100), required=False, max_length=200
        )

    @extend_schema(responses=ApiKeyOutputSerializer(many=True), summary="Keys of this context")
    def get(self, request: Request) -> Response:
        keys = list(selectors.apikey_list(organization=self.organization))
        spend = selectors.keys_period_spend(keys=keys)
        data = ApiKeyOutputSerializer(keys, many=True, context={"spend": spend}).data
        return Response({"keys": data})

    @extend_schema(
        request=ApiKeyCreateInputSerializer,
        responses={201: ApiKeyCreatedOutputSerializer},
        summary="Create a key (the plaintext is in the answer, once)",
    )
    def post(self, request: Request) -> Response:
        serializer = self.ApiKeyCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key, plaintext = services.apikey_create(
            organization=self.organization,
            actor=request.user,
            name=data["name"],
            # Omitted: the key starts at the owner's default cap for new keys.
            spending_limit_microcredits=data.get("spendingLimit", services.ORG_DEFAULT),
            auto_disable=data["autoDisable"],
            expires_at=data.get("expiresAt"),
            allowed_models=data.get("allowedModels") or [],
        )
        body = ApiKeyOutputSerializer(key, context={"spend": {}}).data
        body["key"] = plaintext
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(ContextApi):
    permissions = {"GET": Perm.KEYS_VIEW, "PATCH": Perm.KEYS_MANAGE, "DELETE": Perm.KEYS_MANAGE}

    class ApiKeyUpdateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        spendingLimit = _limit_field()
        autoDisable = serializers.BooleanField(required=False)
        expiresAt = serializers.DateTimeField(required=False, allow_null=True)
        allowedModels = serializers.ListField(
            child=serializers.CharField(max_length=100), required=False, max_length=200
        )

    @extend_schema(responses=ApiKeyOutputSerializer, summary="One key")
    def get(self, request: Request, key_id: str) -> Response:
        key = selectors.apikey_get(organization=self.organization, public_id=key_id)
        return Response(ApiKeyOutputSerializer(key).data)

    @extend_schema(
        request=ApiKeyUpdateInputSerializer, responses=ApiKeyOutputSerializer, summary="Edit"
    )
    def patch(self, request: Request, key_id: str) -> Response:
        key = selectors.apikey_get(organization=self.organization, public_id=key_id)
        serializer = self.ApiKeyUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        changes = {}
        if "name" in data:
            changes["name"] = data["name"]
        if "spendingLimit" in data:
            changes["spending_limit_microcredits"] = data["spendingLimit"]
        if "autoDisable" in data:
            changes["auto_disable"] = data["autoDisable"]
        if "expiresAt" in data:
            changes["expires_at"] = data["expiresAt"]
        if "allowedModels" in data:
            changes["allowed_models"] = data["allowedModels"]
        key = services.apikey_update(key=key, actor=request.user, **changes)
        return Response(ApiKeyOutputSerializer(key).data)

    @extend_schema(request=None, responses=ApiKeyOutputSerializer, summary="Revoke")
    def delete(self, request: Request, key_id: str) -> Response:
        key = selectors.apikey_get(organization=self.organization, public_id=key_id)
        key = services.apikey_revoke(key=key, actor=request.user)
        return Response(ApiKeyOutputSerializer(key).data)


class ApiKeyRotateApi(ContextApi):
    permissions = {"POST": Perm.KEYS_MANAGE}

    class ApiKeyRotateInputSerializer(serializers.Serializer):
        gracePeriodSeconds = serializers.IntegerField(
            min_value=0, max_value=86400, required=False, default=0
        )

    @extend_schema(
        request=ApiKeyRotateInputSerializer,
        responses=ApiKeyCreatedOutputSerializer,
        summary="New secret; the old one may keep working up to 24 h",
    )
    def post(self, request: Request, key_id: str) -> Response:
        key = selectors.apikey_get(organization=self.organization, public_id=key_id)
        serializer = self.ApiKeyRotateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, plaintext = services.apikey_rotate(
            key=key,
            actor=request.user,
            grace_seconds=serializer.validated_data["gracePeriodSeconds"],
        )
        body = ApiKeyOutputSerializer(key).data
        body["key"] = plaintext
        return Response(body)


# --- /api/orgs/{id}/key-defaults --------------------------------------------------------------


class OrgKeyDefaultsOutputSerializer(serializers.Serializer):
    default_key_spending_limit = CreditsInputField(
        source="default_key_spending_limit_microcredits", allow_null=True
    )
    default_key_spending_limit_microcredits = serializers.IntegerField(allow_null=True)


class OrgKeyDefaultsApi(OrgApi):
    """The monthly cap an organization's new keys start at (credits, as the key's
    ``spendingLimit``; the exact µcr beside it). Named as the rest of ``/api/orgs``."""

    permissions = {"GET": Perm.MEMBERS_VIEW, "PATCH": Perm.KEYS_DEFAULT_CAP}

    class OrgKeyDefaultsInputSerializer(serializers.Serializer):
        default_key_spending_limit = CreditsInputField(min_microcredits=1, allow_null=True)

    @extend_schema(responses=OrgKeyDefaultsOutputSerializer, summary="Defaults for new keys")
    def get(self, request: Request, org_id: str) -> Response:
        return Response(OrgKeyDefaultsOutputSerializer(self.organization).data)

    @extend_schema(
        request=OrgKeyDefaultsInputSerializer,
        responses=OrgKeyDefaultsOutputSerializer,
        summary="Set the default monthly cap for new keys (null: none)",
    )
    def patch(self, request: Request, org_id: str) -> Response:
        serializer = self.OrgKeyDefaultsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        org = services.org_default_key_limit_set(
            organization=self.organization,
            actor=request.user,
            limit_microcredits=serializer.validated_data["default_key_spending_limit"],
        )
        return Response(OrgKeyDefaultsOutputSerializer(org).data)
