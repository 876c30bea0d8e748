"""Pages of GPU jobs: a deployment's Jobs tab (filters, "Run a test job"), a job's
detail with its live status (htmx), and the public serverless catalog ``/gpu-recommend``."""

import json
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.selectors import wallet_balances
from hypereal_site.api.errors import ApplicationError
from orgs.access import RoleDenied, context_view, public_view
from orgs.context import Context
from orgs.permissions import Perm

from . import job_selectors, jobs
from .job_forms import JobFilterForm, TestJobForm
from .models import GpuJob


def _job_context(job: GpuJob, context: Context) -> dict:
    held = job.hold.amount_microcredits if job.hold_id else 0
    return {
        "job": job,
        "held": held,
        "released": held - (job.charged_microcredits or 0),
        "final": job.status in GpuJob.FINAL,
        "can_manage": context.allows(Perm.DEPLOYMENTS_MANAGE),
    }


@context_view(Perm.DEPLOYMENTS_VIEW)
@require_http_methods(["GET", "POST"])
def deployment_jobs(request: HttpRequest, slug: str, context: Context) -> HttpResponse:
    deployment = job_selectors.job_deployment_get(
        organization_id=context.organization.pk, slug=slug
    )
    can_manage = context.allows(Perm.DEPLOYMENTS_MANAGE)
    form = TestJobForm()
    if request.method == "POST":
        if not can_manage:
            raise RoleDenied(Perm.DEPLOYMENTS_MANAGE)
        form = TestJobForm(request.POST)
        if form.is_valid():
            try:
                job = jobs.job_submit(
                    deployment=deployment, job_input=form.cleaned_data["input"], actor=request.user
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Test job %(id)s submitted.") % {"id": job.public_id})
                return redirect(f"{reverse('deployment_jobs', args=[slug])}?new={job.public_id}")
    filters = JobFilterForm(request.GET or None)
    status = since = until = None
    if filters.is_valid():
        status = filters.cleaned_data["status"] or ""
        day = filters.cleaned_data["since"]
        since = datetime.combine(day, time.min, tzinfo=UTC) if day else None
        day = filters.cleaned_data["until"]
        until = datetime.combine(day, time.min, tzinfo=UTC) + timedelta(days=1) if day else None
    page = job_selectors.deployment_jobs(
        deployment=deployment,
        status=status or "",
        since=since,
        until=until,
        cursor=request.GET.get("cursor", ""),
    )
    new_job = None
    if request.GET.get("new"):
        new_job = (
            GpuJob.objects.select_related("hold")
            .filter(deployment=deployment, public_id=request.GET["new"][:16])
            .first()
        )
    query = request.GET.copy()
    query.pop("cursor", None)
    query.pop("new", None)
    return render(
        request,
        "infra/job_list.html",
        {
            "nav": "deployments",
            "tab": "jobs",
            "deployment": deployment,
            "page": page,
            "form": form,
            "filters": filters,
            "query": query.urlencode(),
            "can_manage": can_manage,
            "new_job": new_job,
            **({"new": _job_context(new_job, context)} if new_job else {}),
            "hold_per_job": _hold_or_none(deployment),
            "spend_month": job_selectors.deployment_spend_this_month(deployment=deployment),
            "balance": wallet_balances(organization_id=context.organization.pk),
        },
    )


def _hold_or_none(deployment) -> int | None:
    try:
        return jobs.deployment_hold_amount(deployment)
    except ApplicationError:
        return None


@context_view(Perm.DEPLOYMENTS_VIEW)
@require_GET
def job_detail(request: HttpRequest, job_id: str, context: Context) -> HttpResponse:
    job = job_selectors.job_get(organization_id=context.organization.pk, public_id=job_id)
    return render(
        request,
        "infra/job_detail.html",
        {
            "nav": "deployments",
            "input_json": json.dumps(job.input, indent=2, ensure_ascii=False),
            "output_json": json.dumps(job.output, indent=2, ensure_ascii=False),
            **_job_context(job, context),
        },
    )


@context_view(Perm.DEPLOYMENTS_VIEW)
@require_GET
def job_status(request: HttpRequest, job_id: str, context: Context) -> HttpResponse:
    """The job's status card, polled live from the provider (htmx, every 2 s until final)."""
    job = job_selectors.job_get(organization_id=context.organization.pk, public_id=job_id)
    job = jobs.job_refresh(job=job)
    job = job_selectors.job_get(organization_id=context.organization.pk, public_id=job_id)
    data = _job_context(job, context)
    response = render(request, "infra/job_status.html", data)
    if data["final"]:
        # The card only polls while the job runs: this answer is the one that saw it end.
        # The Jobs tab's balance, spend and table listen for it and reload themselves.
        response["HX-Trigger"] = "job-finished"
    return response


@context_view(Perm.DEPLOYMENTS_MANAGE)
@require_POST
def job_cancel_view(request: HttpRequest, job_id: str, context: Context) -> HttpResponse:
    job = job_selectors.job_get(organization_id=context.organization.pk, public_id=job_id)
    try:
        jobs.job_cancel(job=job, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Job %(id)s cancelled.") % {"id": job.public_id})
    return redirect("job_detail", job_id=job.public_id)


@public_view
@require_GET
def gpu_recommend(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:100]
    models = list(job_selectors.serverless_catalog(query=query))
    return render(
        request,
        "infra/gpu_recommend.html",
        {
            "models": models,
            "q": query,
            "default_timeout": settings.GPU_SERVERLESS_DEFAULT_TIMEOUT_SECONDS,
        },
    )
