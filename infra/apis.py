"""``/api/deployments`` — deployments of the session's current context (personal or
organization), for the browser. ``infra.customer_apis`` serves the same operations at
``/v1/deployments`` with a ``ck_`` key; both share the serializers and the handlers here,
and both call ``infra.services``.

Names follow the public reference (``slug, name, dockerImage, gpuTypes``, camelCase).
``gpuTypes`` is accepted as ``"ADA_48_PRO,AMPERE_80"`` or as a list. Credits are exact
JSON numbers (``usage.apis.ExactJSONRenderer``), with the µcr beside them.
"""

from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from billing.money import credits_output
from orgs.access import ContextApi
from orgs.permissions import Perm
from usage.apis import ExactJSONRenderer

from . import selectors, services
from .models import Deployment


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "example": "ADA_48_PRO,AMPERE_80"},
            {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        ]
    }
)
class GpuTypesField(serializers.Field):
    """A comma-separated string or a list of GPU type codes (checked by the service)."""

    default_error_messages = {
        "invalid": "Give GPU type codes as a list or a comma-separated string.",
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            if len(data) > 200 or "\x00" in data:
                self.fail("invalid")
            return data
        if (
            isinstance(data, list)
            and len(data) <= 10
            and all(isinstance(v, str) and len(v) <= 40 and "\x00" not in v for v in data)
        ):
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return list(value)


class TextField(serializers.CharField):
    """A string, and only a string (DRF's CharField would turn ``5`` into ``"5"``)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def _int(low: int, high: int, **kwargs) -> serializers.IntegerField:
    # Bounds here only keep hostile numbers out; the service says what the rules are.
    return serializers.IntegerField(min_value=low, max_value=high, **kwargs)


class DeploymentInputSerializer(serializers.Serializer):
    name = TextField(max_length=100, required=False)
    dockerImage = TextField(max_length=255, required=False)
    gpuTypes = GpuTypesField(required=False)
    gpuCount = _int(0, 1000, required=False)
    minWorkers = _int(0, 100_000, required=False)
    maxWorkers = _int(0, 100_000, required=False)
    idleTimeoutSeconds = _int(0, 10**9, required=False)
    executionTimeoutSeconds = _int(0, 10**9, required=False)
    env = serializers.DictField(
        child=TextField(allow_blank=True, max_length=services.MAX_ENV_VALUE),
        required=False,
        help_text=gettext_lazy(
            "Environment variables (name → value); values are encrypted and never "
            "shown back. On PATCH the object replaces every variable."
        ),
    )
    webhookUrl = TextField(max_length=500, allow_blank=True, required=False)


class DeploymentCreateInputSerializer(DeploymentInputSerializer):
    slug = TextField(max_length=64)
    dockerImage = TextField(max_length=255)
    gpuTypes = GpuTypesField()


#: API field → the service's keyword.
SERVICE_FIELDS = {api: python for python, api in services.API_FIELDS.items()}


def service_kwargs(data: dict) -> dict:
    return {SERVICE_FIELDS[name]: value for name, value in data.items()}


class DeploymentOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    slug = serializers.CharField()
    name = serializers.CharField()
    dockerImage = serializers.CharField(source="docker_image")
    gpuTypes = serializers.ListField(source="gpu_types", child=serializers.CharField())
    gpuCount = serializers.IntegerField(source="gpu_count")
    minWorkers = serializers.IntegerField(source="min_workers")
    maxWorkers = serializers.IntegerField(source="max_workers")
    idleTimeoutSeconds = serializers.IntegerField(source="idle_timeout_seconds")
    executionTimeoutSeconds = serializers.IntegerField(source="execution_timeout_seconds")
    envNames = serializers.SerializerMethodField(
        help_text=gettext_lazy("Names only; values are never shown.")
    )
    webhookUrl = serializers.CharField(source="webhook_url")
    status = serializers.CharField()
    statusDetail = serializers.CharField(
        source="status_detail",
        help_text=gettext_lazy("What the status does not say, as a sentence in your language."),
    )
    statusDetailCode = serializers.CharField(
        source="status_detail_code",
        help_text=gettext_lazy(
            "The same as a stable code (endpoint_create_failed, no_worker_in_time…; empty "
            "when there is nothing to add)."
        ),
    )
    statusDetailParams = serializers.DictField(
        source="status_detail_params",
        help_text=gettext_lazy("The code's parameters (error: the provider's own words)."),
    )
    creditsPerSecond = serializers.SerializerMethodField(
        help_text=gettext_lazy(
            "The dearest allowed GPU type's rate × GPU count (what a second may cost)."
        )
    )
    holdPerJobCredits = serializers.SerializerMethodField(
        help_text=gettext_lazy(
            "Held at each job's submit: execution timeout × GPU count × dearest rate."
        )
    )
    holdPerJobMicrocredits = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    def get_envNames(self, deployment) -> list[str]:
        return services.deployment_env_names(deployment)

    @extend_schema_field(OpenApiTypes.NUMBER)
    def get_creditsPerSecond(self, deployment):
        return credits_output(selectors.deployment_rate_range(deployment)[1])

    @extend_schema_field(OpenApiTypes.NUMBER)
    def get_holdPerJobCredits(self, deployment):
        return credits_output(selectors.deployment_hold_microcredits(deployment))

    def get_holdPerJobMicrocredits(self, deployment) -> int:
        return selectors.deployment_hold_microcredits(deployment)


class DeploymentCreatedOutputSerializer(DeploymentOutputSerializer):
    webhookSecret = serializers.CharField(
        help_text=gettext_lazy("whsec_… signing secret of webhookUrl; in this answer only.")
    )


def deployment_body(deployment: Deployment, secret: str = "") -> dict:
    body = dict(DeploymentOutputSerializer(deployment).data)
    if secret:
        body["webhookSecret"] = secret
    return body


# --- the handlers, shared with /v1/deployments ------------------------------------------------


class DeploymentListCreateHandlers:
    """GET lists, POST creates; ``self.organization`` and ``self.actor`` are set by the
    base class (session context or the key's tenant)."""

    renderer_classes = [ExactJSONRenderer]

    @extend_schema(
        responses=DeploymentOutputSerializer(many=True), summary="Deployments of this tenant"
    )
    def get(self, request: Request) -> Response:
        rows = selectors.deployment_list(organization=self.organization)
        return Response({"deployments": [deployment_body(d) for d in rows]})

    @extend_schema(
        request=DeploymentCreateInputSerializer,
        responses={201: DeploymentCreatedOutputSerializer},
        summary="Create a deployment (a webhookSecret is in the answer once)",
    )
    def post(self, request: Request) -> Response:
        serializer = DeploymentCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        created = services.deployment_create(
            organization=self.organization,
            actor=self.actor,
            **service_kwargs(serializer.validated_data),
        )
        return Response(
            deployment_body(created.deployment, created.webhook_secret),
            status=status.HTTP_201_CREATED,
        )


class DeploymentDetailHandlers:
    renderer_classes = [ExactJSONRenderer]

    @extend_schema(responses=DeploymentOutputSerializer, summary="One deployment")
    def get(self, request: Request, slug: str) -> Response:
        deployment = selectors.deployment_get(organization=self.organization, slug=slug)
        return Response(deployment_body(deployment))

    @extend_schema(
        request=DeploymentInputSerializer,
        responses=DeploymentOutputSerializer,
        summary="Change some settings (the provider endpoint is updated)",
    )
    def patch(self, request: Request, slug: str) -> Response:
        deployment = selectors.deployment_get(organization=self.organization, slug=slug)
        serializer = DeploymentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        updated = services.deployment_update(
            deployment=deployment,
            actor=self.actor,
            **service_kwargs(serializer.validated_data),
        )
        return Response(deployment_body(updated.deployment, updated.webhook_secret))

    @extend_schema(
        request=None,
        responses=DeploymentOutputSerializer,
        summary="Delete (status deleting, then gone)",
    )
    def delete(self, request: Request, slug: str) -> Response:
        deployment = selectors.deployment_get(organization=self.organization, slug=slug)
        deployment = services.deployment_delete(deployment=deployment, actor=self.actor)
        body = deployment_body(deployment)
        body["deleted"] = deployment.deleted_at is not None
        return Response(body)


class DeploymentContextApi(ContextApi):
    @property
    def actor(self):
        return self.request.user


class DeploymentListCreateApi(DeploymentListCreateHandlers, DeploymentContextApi):
    permissions = {"GET": Perm.DEPLOYMENTS_VIEW, "POST": Perm.DEPLOYMENTS_MANAGE}


class DeploymentDetailApi(DeploymentDetailHandlers, DeploymentContextApi):
    permissions = {
        "GET": Perm.DEPLOYMENTS_VIEW,
        "PATCH": Perm.DEPLOYMENTS_MANAGE,
        "DELETE": Perm.DEPLOYMENTS_MANAGE,
    }
