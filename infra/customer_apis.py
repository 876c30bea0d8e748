"""``/v1/deployments`` with a customer's ``ck_`` key (any of the four forms), and the
public ``/v1/gpu-types`` catalog.

A key acts in its own tenant with the role of the member who created it, as that member
holds it now (``selectors.key_role``): viewing needs ``DEPLOYMENTS_VIEW``, changing needs
``DEPLOYMENTS_MANAGE``. A key whose creator left may still call the gateway but manages
no GPUs (403). Bodies are strict (unknown fields are a 400), like the browser APIs.
``CustomerKeyApi`` is the base for every ``/v1`` GPU endpoint.
"""

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys.authentication import CustomerKeyAuthentication, IsCustomerKey
from billing.money import credits_output
from hypereal_site.api.strict import StrictInputApi
from orgs.access import Access
from orgs.permissions import Perm
from usage.apis import ExactJSONRenderer

from . import selectors
from .apis import DeploymentDetailHandlers, DeploymentListCreateHandlers


class CustomerKeyApi(StrictInputApi):
    """A ``/v1`` endpoint for a ``ck_`` key, with a permission per method checked against
    the role the key acts with (see the module)."""

    authentication_classes = [CustomerKeyAuthentication]
    permission_classes = [IsCustomerKey]
    throttle_classes: list = []
    hypereal_access = Access("customer_key")
    permissions: dict[str, Perm] = {}

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # 401 before anything else
        method = "GET" if request.method == "HEAD" else request.method
        if not hasattr(self, method.lower()) or method == "OPTIONS":
            return
        if method not in self.permissions:
            raise ImproperlyConfigured(f"{type(self).__name__} has no permission for {method}")
        key = request.auth
        if not selectors.key_allows(key=key, perm=self.permissions[method]):
            raise exceptions.PermissionDenied(
                _("This key's creator does not have a role that allows this.")
            )
        self.key = key
        self.organization = key.organization

    @property
    def actor(self):
        return self.key.created_by


@extend_schema_view(
    get=extend_schema(operation_id="v1_deployments_list"),
    post=extend_schema(operation_id="v1_deployments_create"),
)
class V1DeploymentListCreateApi(DeploymentListCreateHandlers, CustomerKeyApi):
    permissions = {"GET": Perm.DEPLOYMENTS_VIEW, "POST": Perm.DEPLOYMENTS_MANAGE}


@extend_schema_view(
    get=extend_schema(operation_id="v1_deployments_retrieve"),
    patch=extend_schema(operation_id="v1_deployments_partial_update"),
    delete=extend_schema(operation_id="v1_deployments_destroy"),
)
class V1DeploymentDetailApi(DeploymentDetailHandlers, CustomerKeyApi):
    permissions = {
        "GET": Perm.DEPLOYMENTS_VIEW,
        "PATCH": Perm.DEPLOYMENTS_MANAGE,
        "DELETE": Perm.DEPLOYMENTS_MANAGE,
    }


class GpuTypeOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    memoryGb = serializers.IntegerField(source="memory_gb")
    creditsPerSecond = serializers.DecimalField(max_digits=20, decimal_places=6)
    microcreditsPerSecond = serializers.IntegerField(source="microcredits_per_second")


class GpuTypeListApi(APIView):
    """The GPU types a deployment may ask for, with their per-second rate (public)."""

    hypereal_access = Access("public")
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    renderer_classes = [ExactJSONRenderer]

    @extend_schema(
        responses=GpuTypeOutputSerializer(many=True),
        summary="GPU types and their credits per second (example prices)",
    )
    def get(self, request: Request) -> Response:
        rows = [
            {
                "code": t.code,
                "name": t.name,
                "memoryGb": t.memory_gb,
                "creditsPerSecond": credits_output(t.microcredits_per_second),
                "microcreditsPerSecond": t.microcredits_per_second,
            }
            for t in selectors.gpu_type_list()
        ]
        return Response({"gpuTypes": rows})
