"""The deployment pages: list, new (with its live price), detail with edit and delete.

Every page works without JavaScript; htmx only refreshes the price preview of the form.
The views call the same services as ``/api/deployments`` and ``/v1/deployments``.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from billing.selectors import wallet_balances
from hypereal_site.api.errors import ApplicationError
from hypereal_site.forms import apply_validation_error
from orgs.access import context_view
from orgs.context import Context
from orgs.permissions import Perm

from . import selectors, services
from .forms import FIELD_ALIASES, DeploymentForm
from .models import Deployment


def _gpu_types() -> list:
    return list(selectors.gpu_type_list())


@context_view(Perm.DEPLOYMENTS_VIEW)
@require_GET
def deployment_list(request: HttpRequest, context: Context) -> HttpResponse:
    deployments = list(selectors.deployment_list(organization=context.organization))
    spend = selectors.deployments_month_spend(deployments=deployments)
    rows = [{"deployment": d, "spend": spend.get(d.pk, 0)} for d in deployments]
    return render(
        request,
        "infra/deployment_list.html",
        {
            "rows": rows,
            "context": context,
            "can_manage": context.allows(Perm.DEPLOYMENTS_MANAGE),
            "nav": "deployments",
        },
    )


def _apply_error(form: DeploymentForm, exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        apply_validation_error(form, exc, FIELD_ALIASES)
    elif isinstance(exc, ApplicationError):
        field = "slug" if exc.type == "slug_taken" and "slug" in form.fields else None
        form.add_error(field, exc.message)


@never_cache
@context_view(Perm.DEPLOYMENTS_MANAGE)
@require_http_methods(["GET", "POST"])
def deployment_create(request: HttpRequest, context: Context) -> HttpResponse:
    """On success the page shows the webhook secret once (never stored in plain text)."""
    form = DeploymentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.deployment_create(
                organization=context.organization,
                actor=request.user,
                slug=form.cleaned_data["slug"],
                **form.service_values(),
            )
        except (ValidationError, ApplicationError) as exc:
            _apply_error(form, exc)
        else:
            if created.webhook_secret:
                return render(
                    request,
                    "infra/deployment_new.html",
                    {
                        "created": created.deployment,
                        "secret": created.webhook_secret,
                        "nav": "deployments",
                    },
                    status=201,
                )
            messages.success(
                request,
                _("Deployment %(slug)s created; it is deploying.")
                % {"slug": created.deployment.slug},
            )
            return redirect("deployments_detail", slug=created.deployment.slug)
    return render(
        request,
        "infra/deployment_new.html",
        {
            "form": form,
            "preview": form.hold_preview(),
            "gpu_types": _gpu_types(),
            "balance": wallet_balances(organization_id=context.organization.pk),
            "nav": "deployments",
        },
        status=400 if form.errors else 200,
    )


@context_view(Perm.DEPLOYMENTS_MANAGE)
@require_GET
def deployment_price(request: HttpRequest, context: Context) -> HttpResponse:
    """The price preview of the form, recomputed as fields change (htmx)."""
    form = DeploymentForm(request.GET)
    form.is_valid()
    return render(
        request,
        "infra/deployment_new.html#price",
        {"preview": form.hold_preview()},
    )


def _edit_form(deployment: Deployment) -> DeploymentForm:
    types = [*deployment.gpu_types, "", ""]
    return DeploymentForm(
        editing=deployment,
        initial={
            "name": deployment.name,
            "docker_image": deployment.docker_image,
            "gpu_type_1": types[0],
            "gpu_type_2": types[1],
            "gpu_type_3": types[2],
            "gpu_count": deployment.gpu_count,
            "min_workers": deployment.min_workers,
            "max_workers": deployment.max_workers,
            "idle_timeout_seconds": deployment.idle_timeout_seconds,
            "execution_timeout_seconds": deployment.execution_timeout_seconds,
            "webhook_url": deployment.webhook_url,
        },
    )


def _detail(
    request: HttpRequest,
    context: Context,
    deployment: Deployment,
    *,
    edit_form: DeploymentForm | None = None,
    secret: str = "",
    status: int = 200,
) -> HttpResponse:
    low, high = selectors.deployment_rate_range(deployment)
    return render(
        request,
        "infra/deployment_detail.html",
        {
            "deployment": deployment,
            "live": selectors.deployment_health(deployment=deployment),
            "spend": selectors.deployment_month_spend(deployment=deployment),
            "month": selectors.month_start().strftime("%Y-%m"),
            "rate_low": low,
            "rate_high": high,
            "hold": selectors.deployment_hold_microcredits(deployment),
            "env_names": services.deployment_env_names(deployment),
            "can_manage": context.allows(Perm.DEPLOYMENTS_MANAGE),
            "edit_form": edit_form or _edit_form(deployment),
            "secret": secret,
            "tab": "overview",
            "nav": "deployments",
        },
        status=status,
    )


@context_view(Perm.DEPLOYMENTS_VIEW)
@require_GET
def deployment_detail(request: HttpRequest, slug: str, context: Context) -> HttpResponse:
    deployment = selectors.deployment_get(organization=context.organization, slug=slug)
    return _detail(request, context, deployment)


@never_cache
@context_view(Perm.DEPLOYMENTS_MANAGE)
@require_POST
def deployment_edit(request: HttpRequest, slug: str, context: Context) -> HttpResponse:
    deployment = selectors.deployment_get(organization=context.organization, slug=slug)
    form = DeploymentForm(request.POST, editing=deployment)
    if form.is_valid():
        try:
            updated = services.deployment_update(
                deployment=deployment, actor=request.user, **form.service_values()
            )
        except (ValidationError, ApplicationError) as exc:
            _apply_error(form, exc)
        else:
            if updated.webhook_secret:
                return _detail(request, context, updated.deployment, secret=updated.webhook_secret)
            messages.success(request, _("Deployment settings saved."))
            return redirect("deployments_detail", slug=deployment.slug)
    return _detail(request, context, deployment, edit_form=form, status=400)


@context_view(Perm.DEPLOYMENTS_MANAGE)
@require_POST
def deployment_delete(request: HttpRequest, slug: str, context: Context) -> HttpResponse:
    deployment = selectors.deployment_get(organization=context.organization, slug=slug)
    if request.POST.get("confirm") != deployment.slug:
        messages.error(
            request,
            _("Type the deployment's slug (%(slug)s) to delete it.") % {"slug": deployment.slug},
        )
        return redirect("deployments_detail", slug=deployment.slug)
    deployment = services.deployment_delete(deployment=deployment, actor=request.user)
    if deployment.deleted_at is not None:
        messages.success(request, _("Deployment %(slug)s deleted.") % {"slug": deployment.slug})
    else:
        messages.warning(
            request,
            _("Deployment %(slug)s is being deleted; the provider has not confirmed yet.")
            % {"slug": deployment.slug},
        )
    return redirect("deployments_list")
