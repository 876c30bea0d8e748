"""``/api/webhooks`` — webhook endpoints of the session's current context (owners and
admins: ``Perm.WEBHOOKS_MANAGE``). The signing secret is in the answer of create and
rotate, once; it is never returned again."""

import json
from decimal import Decimal

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from infra.selectors import deployment_get
from orgs.access import ContextApi
from orgs.permissions import Perm

from . import events, selectors, services

_EVENT_CHOICES = list(events.EVENT_TYPES)


class ExactJSONRenderer(JSONRenderer):
    """JSON whose Decimals (the credits inside a message's payload) are exact numbers."""

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return b"" if data is None else events.dumps(data).encode()


class EndpointOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    url = serializers.CharField()
    description = serializers.CharField()
    eventTypes = serializers.ListField(source="event_types", child=serializers.CharField())
    enabled = serializers.BooleanField()
    disabledCode = serializers.CharField(
        source="disabled_code",
        help_text="Why it is disabled, as a code: gone_410, repeated_failures, disabled_by "
        "(empty while enabled).",
    )
    disabledReason = serializers.CharField(
        source="disabled_reason", help_text="The same reason as a sentence in your language."
    )
    previousSecretValidUntil = serializers.DateTimeField(
        source="previous_secret_until", allow_null=True
    )
    lastSuccessAt = serializers.DateTimeField(source="last_success_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")


class EndpointWithSecretOutputSerializer(EndpointOutputSerializer):
    secret = serializers.CharField(help_text=gettext_lazy("whsec_…: shown once; store it now."))


class AttemptOutputSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    succeeded = serializers.BooleanField()
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    responseExcerpt = serializers.CharField(source="response_excerpt")
    durationMs = serializers.IntegerField(source="duration_ms")
    error = serializers.CharField(
        help_text="Why the attempt failed, as a sentence in your language (empty if it did not)."
    )
    errorCode = serializers.CharField(
        source="error_code",
        help_text="The same as a stable code: timed_out, unreachable, unresolvable, tls_failed, "
        "http_status, private_address… (empty if it did not fail).",
    )
    errorParams = serializers.DictField(
        source="error_params", help_text="The code's parameters (host, status…)."
    )
    createdAt = serializers.DateTimeField(source="created_at")


class DeliveryOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="event_id")
    eventType = serializers.CharField(source="event_type")
    status = serializers.CharField()
    test = serializers.BooleanField(source="is_test")
    attemptCount = serializers.IntegerField(source="attempt_count")
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", allow_null=True)
    lastStatusCode = serializers.IntegerField(source="last_status_code", allow_null=True)
    lastError = serializers.CharField(
        source="last_error", help_text="Why the last attempt failed, in your language."
    )
    lastErrorCode = serializers.CharField(
        source="last_error_code", help_text="The same as a stable code (see errorCode)."
    )
    createdAt = serializers.DateTimeField(source="created_at")
    payload = serializers.SerializerMethodField()
    attempts = AttemptOutputSerializer(many=True, source="attempts.all")

    def get_payload(self, message) -> dict:
        # As it was sent: credits stay exact decimals, never floats.
        return json.loads(message.body, parse_float=Decimal)


def _event_types_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=_EVENT_CHOICES),
        allow_empty=False,
        max_length=len(_EVENT_CHOICES),
        **kwargs,
    )


def _url_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=services.URL_MAX_LENGTH, **kwargs)


class EndpointListCreateApi(ContextApi):
    permissions = {"GET": Perm.WEBHOOKS_MANAGE, "POST": Perm.WEBHOOKS_MANAGE}

    class EndpointCreateInputSerializer(serializers.Serializer):
        url = _url_field()
        eventTypes = _event_types_field()
        description = serializers.CharField(
            max_length=200, required=False, allow_blank=True, default=""
        )
        enabled = serializers.BooleanField(required=False, default=True)

    @extend_schema(responses=EndpointOutputSerializer(many=True), summary="Webhook endpoints")
    def get(self, request: Request) -> Response:
        endpoints = selectors.endpoint_list(organization=self.organization)
        return Response({"endpoints": EndpointOutputSerializer(endpoints, many=True).data})

    @extend_schema(
        request=EndpointCreateInputSerializer,
        responses={201: EndpointWithSecretOutputSerializer},
        summary="Create an endpoint (its signing secret is in the answer, once)",
    )
    def post(self, request: Request) -> Response:
        serializer = self.EndpointCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint, secret = services.endpoint_create(
            organization=self.organization,
            actor=request.user,
            url=data["url"],
            event_types=data["eventTypes"],
            description=data["description"],
            enabled=data["enabled"],
        )
        body = EndpointOutputSerializer(endpoint).data
        body["secret"] = secret
        return Response(body, status=status.HTTP_201_CREATED)


class EndpointDetailApi(ContextApi):
    permissions = {
        "GET": Perm.WEBHOOKS_MANAGE,
        "PATCH": Perm.WEBHOOKS_MANAGE,
        "DELETE": Perm.WEBHOOKS_MANAGE,
    }

    class EndpointUpdateInputSerializer(serializers.Serializer):
        url = _url_field(required=False)
        eventTypes = _event_types_field(required=False)
        description = serializers.CharField(max_length=200, required=False, allow_blank=True)
        enabled = serializers.BooleanField(required=False)

    @extend_schema(responses=EndpointOutputSerializer, summary="One endpoint")
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(organization=self.organization, public_id=endpoint_id)
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(
        request=EndpointUpdateInputSerializer, responses=EndpointOutputSerializer, summary="Edit"
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(organization=self.organization, public_id=endpoint_id)
        serializer = self.EndpointUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        changes = {}
        for field, name in (
            ("url", "url"),
            ("eventTypes", "event_types"),
            ("description", "description"),
            ("enabled", "enabled"),
        ):
            if field in data:
                changes[name] = data[field]
        endpoint = services.endpoint_update(endpoint=endpoint, actor=request.user, **changes)
        return Response(EndpointOutputSerializer(endpoint).data)

    @extend_schema(request=None, responses={204: None}, summary="Delete")
    def delete(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(organization=self.organization, public_id=endpoint_id)
        services.endpoint_delete(endpoint=endpoint, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateApi(ContextApi):
    permissions = {"POST": Perm.WEBHOOKS_MANAGE}

    class EndpointRotateInputSerializer(serializers.Serializer):
        overlapSeconds = serializers.IntegerField(
            min_value=0,
            max_value=services.ROTATION_OVERLAP_MAX_SECONDS,
            required=False,
            default=86400,
        )

    @extend_schema(
        request=EndpointRotateInputSerializer,
        responses=EndpointWithSecretOutputSerializer,
        summary="New signing secret; the old one also signs during the overlap",
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(organization=self.organization, public_id=endpoint_id)
        serializer = self.EndpointRotateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint, secret = services.endpoint_rotate_secret(
            endpoint=endpoint,
            actor=request.user,
            overlap_seconds=serializer.validated_data["overlapSeconds"],
        )
        body = EndpointOutputSerializer(endpoint).data
        body["secret"] = secret
        return Response(body)


class EndpointTestApi(ContextApi):
    permissions = {"POST": Perm.WEBHOOKS_MANAGE}
    renderer_classes = [ExactJSONRenderer]

    class EndpointTestInputSerializer(serializers.Serializer):
        pass

    @extend_schema(
        request=None, responses={202: DeliveryOutputSerializer}, summary="Send a test event"
    )
    def post(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(organization=self.organization, public_id=endpoint_id)
        if request.data:
            self.EndpointTestInputSerializer(data=request.data).is_valid(raise_exception=True)
        message = services.endpoint_send_test(endpoint=endpoint, actor=request.user)
        message.refresh_from_db()
        return Response(DeliveryOutputSerializer(message).data, status=status.HTTP_202_ACCEPTED)


class EndpointDeliveriesApi(ContextApi):
    permissions = {"GET": Perm.WEBHOOKS_MANAGE}
    renderer_classes = [ExactJSONRenderer]

    @extend_schema(responses=DeliveryOutputSerializer(many=True), summary="Latest deliveries (50)")
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = selectors.endpoint_get(organization=self.organization, public_id=endpoint_id)
        messages = selectors.endpoint_messages(endpoint=endpoint)
        return Response({"deliveries": DeliveryOutputSerializer(messages, many=True).data})


class DeliveryResendApi(ContextApi):
    permissions = {"POST": Perm.WEBHOOKS_MANAGE}
    renderer_classes = [ExactJSONRenderer]

    class DeliveryResendInputSerializer(serializers.Serializer):
        pass

    @extend_schema(request=None, responses={202: DeliveryOutputSerializer}, summary="Resend")
    def post(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        endpoint = selectors.endpoint_get(organization=self.organization, public_id=endpoint_id)
        message = selectors.message_get(endpoint=endpoint, event_id=delivery_id)
        if request.data:
            self.DeliveryResendInputSerializer(data=request.data).is_valid(raise_exception=True)
        message = services.message_resend(message=message, actor=request.user)
        message = selectors.message_get(endpoint=endpoint, event_id=message.event_id)
        return Response(DeliveryOutputSerializer(message).data, status=status.HTTP_202_ACCEPTED)


# --- a deployment's own webhook URL (``/api/deployments/{slug}/…``) ---------------------------
# Whoever may view the deployment reads its delivery log; whoever may manage it resends and
# sends a test event. Another tenant's deployment (or a message of another deployment) is 404.


class DeploymentDeliveriesApi(ContextApi):
    permissions = {"GET": Perm.DEPLOYMENTS_VIEW}
    renderer_classes = [ExactJSONRenderer]

    @extend_schema(
        responses=DeliveryOutputSerializer(many=True),
        summary="Latest deliveries (50) to the deployment's webhook URL",
        operation_id="deployments_deliveries_list",
    )
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get(organization=self.organization, slug=slug)
        messages = selectors.deployment_messages(deployment=deployment)
        return Response({"deliveries": DeliveryOutputSerializer(messages, many=True).data})


class DeploymentDeliveryResendApi(ContextApi):
    permissions = {"POST": Perm.DEPLOYMENTS_MANAGE}
    renderer_classes = [ExactJSONRenderer]

    class DeploymentResendInputSerializer(serializers.Serializer):
        pass

    @extend_schema(
        request=None,
        responses={202: DeliveryOutputSerializer},
        summary="Resend to the deployment's webhook URL",
        operation_id="deployments_deliveries_resend",
    )
    def post(self, request: Request, slug: str, delivery_id: str) -> Response:
        deployment = deployment_get(organization=self.organization, slug=slug)
        message = selectors.message_get(deployment=deployment, event_id=delivery_id)
        if request.data:
            self.DeploymentResendInputSerializer(data=request.data).is_valid(raise_exception=True)
        message = services.message_resend(message=message, actor=request.user)
        message = selectors.message_get(deployment=deployment, event_id=message.event_id)
        return Response(DeliveryOutputSerializer(message).data, status=status.HTTP_202_ACCEPTED)


class DeploymentWebhookTestApi(ContextApi):
    permissions = {"POST": Perm.DEPLOYMENTS_MANAGE}
    renderer_classes = [ExactJSONRenderer]

    class DeploymentTestInputSerializer(serializers.Serializer):
        pass

    @extend_schema(
        request=None,
        responses={202: DeliveryOutputSerializer},
        summary="Send a test event to the deployment's webhook URL",
        operation_id="deployments_webhook_test",
    )
    def post(self, request: Request, slug: str) -> Response:
        deployment = deployment_get(organization=self.organization, slug=slug)
        if request.data:
            self.DeploymentTestInputSerializer(data=request.data).is_valid(raise_exception=True)
        message = services.deployment_send_test(deployment=deployment, actor=request.user)
        message = selectors.message_get(deployment=deployment, event_id=message.event_id)
        return Response(DeliveryOutputSerializer(message).data, status=status.HTTP_202_ACCEPTED)
