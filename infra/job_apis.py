"""``/v1/gpu/…``: GPU jobs on a deployment and serverless GPU models (``ck_`` keys), and
the provider's callback (docs/gpu_jobs.md).

Each job answers in the shape of the API that created it: a deployment job
``{job_id, status, output, executionMs, creditsCharged}``, a serverless one
``{id, status, outputs, costCredits, durationMs}``. Credits are exact decimal numbers.
"""

from dataclasses import dataclass

from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, exceptions, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response

from apikeys.authentication import (
    CustomerKeyAuthentication,
    IsCustomerKey,
    ServicePrincipal,
    ServiceTokenAuthentication,
)
from billing.money import credits_output
from hypereal_site.api.strict import StrictInputApi
from orgs.access import Access
from orgs.models import Membership
from orgs.permissions import Perm, role_allows
from usage.apis import ExactJSONRenderer

from . import job_selectors, jobs
from .models import GpuJob


def key_allows(key, perm: Perm) -> bool:
    """A ``ck_`` key acts with the role of the member who created it, in its tenant."""
    if key.created_by_id is None:
        return False
    role = (
        Membership.objects.filter(organization_id=key.organization_id, user_id=key.created_by_id)
        .values_list("role", flat=True)
        .first()
    )
    return role is not None and role_allows(role, perm)


class CustomerJobApi(StrictInputApi):
    authentication_classes = [CustomerKeyAuthentication]
    permission_classes = [IsCustomerKey]
    throttle_classes: list = []
    renderer_classes = [ExactJSONRenderer]
    hypereal_access = Access("customer_key")

    def require(self, perm: Perm) -> None:
        if not key_allows(self.request.auth, perm):
            raise exceptions.PermissionDenied(_("This key's role does not allow this."))


def deployment_job_body(job: GpuJob) -> dict:
    return {
        "job_id": job.public_id,
        "status": job.status,
        "provider_job_id": job.provider_job_id or None,
        "output": job.output,
        "error": job.error or None,
        "executionMs": job.execution_ms,
        "creditsCharged": credits_output(job.charged_microcredits),
        "creditsHeld": credits_output(job.hold.amount_microcredits if job.hold_id else 0),
        "providerError": job.provider_error or None,
    }


def serverless_job_body(job: GpuJob) -> dict:
    output = job.output
    if output is None:
        outputs = []
    elif isinstance(output, list):
        outputs = output
    elif isinstance(output, dict) and isinstance(output.get("outputs"), list):
        outputs = output["outputs"]
    else:
        outputs = [output]
    body = {
        "id": job.public_id,
        "status": job.status,
        "outputs": outputs,
        "costCredits": credits_output(job.charged_microcredits),
        "durationMs": job.execution_ms,
    }
    if job.error:
        body["error"] = job.error
    if job.status not in GpuJob.FINAL:
        body["pollUrl"] = f"/v1/gpu/jobs/{job.public_id}"
    return body


def job_body(job: GpuJob) -> dict:
    return serverless_job_body(job) if job.serverless_model_id else deployment_job_body(job)


class RunInputSerializer(serializers.Serializer):
    input = serializers.JSONField()
    sync = serializers.BooleanField(required=False, default=False)


class ServerlessInputSerializer(serializers.Serializer):
    input = serializers.JSONField()


class JobRunApi(CustomerJobApi):
    @extend_schema(
        request=RunInputSerializer,
        responses=OpenApiTypes.OBJECT,
        summary="Run a job on a deployment",
    )
    def post(self, request: Request, slug: str) -> Response:
        self.require(Perm.DEPLOYMENTS_MANAGE)
        data = RunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.auth
        deployment = job_selectors.job_deployment_get(
            organization_id=key.organization_id, slug=slug
        )
        job = jobs.job_submit(
            deployment=deployment, job_input=data.validated_data["input"], api_key=key
        )
        if data.validated_data["sync"]:
            job = jobs.job_wait(job=job, seconds=settings.GPU_JOB_SYNC_WAIT_SECONDS)
            return Response(deployment_job_body(job))
        return Response(
            {
                "job_id": job.public_id,
                "status": job.status,
                "provider_job_id": job.provider_job_id or None,
            }
        )


class JobApi(CustomerJobApi):
    @extend_schema(responses=OpenApiTypes.OBJECT, summary="Poll a GPU job (live from the provider)")
    def get(self, request: Request, job_id: str) -> Response:
        self.require(Perm.DEPLOYMENTS_VIEW)
        job = job_selectors.job_get(organization_id=request.auth.organization_id, public_id=job_id)
        job = jobs.job_refresh(job=job)
        return Response(job_body(job))


class JobCancelApi(CustomerJobApi):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT, summary="Cancel a GPU job")
    def post(self, request: Request, job_id: str) -> Response:
        self.require(Perm.DEPLOYMENTS_MANAGE)
        if request.data:
            raise exceptions.ParseError(_("This takes no body."))
        job = job_selectors.job_get(organization_id=request.auth.organization_id, public_id=job_id)
        job = jobs.job_cancel(job=job)
        return Response(job_body(job))


class ServerlessRunApi(CustomerJobApi):
    @extend_schema(
        request=ServerlessInputSerializer,
        responses=OpenApiTypes.OBJECT,
        summary="Call a serverless GPU model",
    )
    def post(self, request: Request, slug: str) -> Response:
        self.require(Perm.DEPLOYMENTS_MANAGE)
        data = ServerlessInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.auth
        model = job_selectors.serverless_model_get(slug=slug)
        job = jobs.job_submit(
            serverless_model=model,
            organization=key.organization,
            job_input=data.validated_data["input"],
            api_key=key,
        )
        if model.inline_seconds:
            job = jobs.job_wait(job=job, seconds=model.inline_seconds)
        if job.status in GpuJob.FINAL:
            return Response(serverless_job_body(job))
        return Response(serverless_job_body(job), status=status.HTTP_202_ACCEPTED)


@dataclass(frozen=True)
class CallbackPrincipal:
    """The provider, calling back about one job with that job's token."""

    job_pk: int
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    pk: None = None


class JobCallbackAuthentication(authentication.BaseAuthentication):
    """``?token=`` of the job's callback URL (an HMAC only we can make, infra.jobs)."""

    def authenticate(self, request):
        token = request.query_params.get("token")
        if token is None:
            return None
        job_id = (request.parser_context or {}).get("kwargs", {}).get("job_id", "")
        job = job_selectors.job_get_any(public_id=job_id)
        if job is None or not jobs.callback_token_valid(job, token):
            raise exceptions.AuthenticationFailed(_("Invalid callback token."))
        return CallbackPrincipal(job_pk=job.pk), job

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="internal"'


class IsCallerOrService(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, CallbackPrincipal | ServicePrincipal)


class JobCallbackApi(StrictInputApi):
    """The provider POSTs a job's final status here (its ``webhook`` URL, carrying the
    job's token); the inference plane may relay it with its ``svc_`` token."""

    authentication_classes = [JobCallbackAuthentication, ServiceTokenAuthentication]
    permission_classes = [IsCallerOrService]
    throttle_classes: list = []
    hypereal_access = Access("service")

    @extend_schema(exclude=True)  # the provider calls it, not our customers
    def post(self, request: Request, job_id: str) -> Response:
        body = request.data
        job = request.auth if isinstance(request.auth, GpuJob) else None
        if job is None:
            job = job_selectors.job_get_any(public_id=job_id)
            if job is None:
                raise Http404("No such job.")
        job = jobs.job_callback(job=job, body=body)
        return Response({"ok": True, "status": job.status})
