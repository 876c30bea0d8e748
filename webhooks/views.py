"""The webhook pages under ``/settings/organization/webhooks`` (owners and admins; in the
personal account, its user). They call the same services as ``/api/webhooks``."""

import json

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hypereal_site.api.errors import ApplicationError
from hypereal_site.forms import apply_validation_error
from infra.selectors import deployment_get
from orgs.access import context_view
from orgs.context import Context
from orgs.permissions import Perm

from . import events, selectors, services
from .forms import EndpointForm, RotateForm
from .models import WebhookEndpoint

NAV = "organization"


def _list_page(request, context: Context, *, form=None, status: int = 200) -> HttpResponse:
    return render(
        request,
        "webhooks/list.html",
        {
            "context": context,
            "endpoints": selectors.endpoint_list(organization=context.organization),
            "form": form or EndpointForm(initial={"enabled": True}),
            "event_types": events.EVENT_TYPES,
            "nav": NAV,
        },
        status=status,
    )


@context_view(Perm.WEBHOOKS_MANAGE)
@require_GET
def endpoint_list(request: HttpRequest, context: Context) -> HttpResponse:
    return _list_page(request, context)


@never_cache
@context_view(Perm.WEBHOOKS_MANAGE)
@require_POST
def endpoint_create(request: HttpRequest, context: Context) -> HttpResponse:
    form = EndpointForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            endpoint, secret = services.endpoint_create(
                organization=context.organization,
                actor=request.user,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                enabled=data["enabled"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            # The secret is in this answer only (never stored in plain, never shown again).
            return _detail(request, context, endpoint, secret=secret, status=201)
    return _list_page(request, context, form=form, status=400)


def _edit_form(endpoint: WebhookEndpoint) -> EndpointForm:
    return EndpointForm(
        initial={
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": endpoint.event_types,
            "enabled": endpoint.enabled,
        }
    )


def _rows(messages, resend_url) -> list[dict]:
    """The delivery log's rows: each message, its attempts, its body pretty-printed and
    where its Resend button posts (``templates/webhooks/_delivery_log.html``)."""
    rows = []
    for message in messages:
        try:
            pretty = json.dumps(json.loads(message.body), indent=2, ensure_ascii=False)
        except ValueError:
            pretty = message.body
        rows.append(
            {
                "message": message,
                "attempts": list(message.attempts.all()),
                "body": pretty,
                "resend_url": resend_url(message),
            }
        )
    return rows


def _deliveries(endpoint: WebhookEndpoint) -> list[dict]:
    return _rows(
        selectors.endpoint_messages(endpoint=endpoint),
        lambda m: reverse("webhooks_resend", args=[endpoint.public_id, m.event_id]),
    )


def _detail(
    request, context: Context, endpoint: WebhookEndpoint, *, status: int = 200, **extra
) -> HttpResponse:
    return render(
        request,
        "webhooks/detail.html",
        {
            "context": context,
            "endpoint": endpoint,
            "edit_form": extra.get("edit_form") or _edit_form(endpoint),
            "rotate_form": extra.get("rotate_form") or RotateForm(),
            "secret": extra.get("secret"),
            "deliveries": _deliveries(endpoint),
            "nav": NAV,
        },
        status=status,
    )


@never_cache
@context_view(Perm.WEBHOOKS_MANAGE)
@require_GET
def endpoint_detail(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    endpoint = selectors.endpoint_get(organization=context.organization, public_id=public_id)
    return _detail(request, context, endpoint)


@context_view(Perm.WEBHOOKS_MANAGE)
@require_POST
def endpoint_edit(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    endpoint = selectors.endpoint_get(organization=context.organization, public_id=public_id)
    form = EndpointForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.endpoint_update(
                endpoint=endpoint,
                actor=request.user,
                url=data["url"],
                event_types=data["event_types"],
                description=data["description"],
                enabled=data["enabled"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("Webhook endpoint saved."))
            return redirect("webhooks_detail", public_id=endpoint.public_id)
    return _detail(request, context, endpoint, status=400, edit_form=form)


@never_cache
@context_view(Perm.WEBHOOKS_MANAGE)
@require_POST
def endpoint_rotate(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    endpoint = selectors.endpoint_get(organization=context.organization, public_id=public_id)
    form = RotateForm(request.POST)
    if form.is_valid():
        endpoint, secret = services.endpoint_rotate_secret(
            endpoint=endpoint,
            actor=request.user,
            overlap_seconds=form.cleaned_data["overlap_hours"] * 3600,
        )
        return _detail(request, context, endpoint, secret=secret)
    return _detail(request, context, endpoint, status=400, rotate_form=form)


@context_view(Perm.WEBHOOKS_MANAGE)
@require_POST
def endpoint_delete(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    endpoint = selectors.endpoint_get(organization=context.organization, public_id=public_id)
    services.endpoint_delete(endpoint=endpoint, actor=request.user)
    messages.success(request, _("Webhook endpoint %(url)s deleted.") % {"url": endpoint.url})
    return redirect("webhooks_list")


@context_view(Perm.WEBHOOKS_MANAGE)
@require_POST
def endpoint_test(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    endpoint = selectors.endpoint_get(organization=context.organization, public_id=public_id)
    services.endpoint_send_test(endpoint=endpoint, actor=request.user)
    messages.success(request, _("Test event sent. Its delivery is at the top of the log below."))
    return redirect("webhooks_detail", public_id=endpoint.public_id)


@context_view(Perm.WEBHOOKS_MANAGE)
@require_http_methods(["POST"])
def message_resend(
    request: HttpRequest, public_id: str, event_id: str, context: Context
) -> HttpResponse:
    endpoint = selectors.endpoint_get(organization=context.organization, public_id=public_id)
    message = selectors.message_get(endpoint=endpoint, event_id=event_id)
    try:
        services.message_resend(message=message, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Delivery queued again."))
    return redirect("webhooks_detail", public_id=endpoint.public_id)


# --- a deployment's own webhook URL ----------------------------------------------------------
# The "Webhooks" tab of a deployment (``templates/infra/_deployment_tabs.html``): the log of
# what was sent to its ``webhook_url``. Whoever may view the deployment sees it; whoever may
# manage it may resend and send a test event.


def _deployment_page(request: HttpRequest, context: Context, deployment) -> HttpResponse:
    can_manage = context.allows(Perm.DEPLOYMENTS_MANAGE)
    deliveries = _rows(
        selectors.deployment_messages(deployment=deployment),
        lambda m: reverse("deployment_webhook_resend", args=[deployment.slug, m.event_id]),
    )
    return render(
        request,
        "webhooks/deployment_deliveries.html",
        {
            "context": context,
            "deployment": deployment,
            "deliveries": deliveries,
            "can_manage": can_manage,
            "has_url": bool(deployment.webhook_url and deployment.webhook_secret_encrypted),
            "limit": selectors.DELIVERIES_PAGE,
            "retention_days": settings.WEBHOOK_RETENTION_DAYS,
            "tab": "webhooks",
            "nav": "deployments",
        },
    )


@never_cache
@context_view(Perm.DEPLOYMENTS_VIEW)
@require_GET
def deployment_deliveries(request: HttpRequest, slug: str, context: Context) -> HttpResponse:
    deployment = deployment_get(organization=context.organization, slug=slug)
    return _deployment_page(request, context, deployment)


@context_view(Perm.DEPLOYMENTS_MANAGE)
@require_POST
def deployment_test(request: HttpRequest, slug: str, context: Context) -> HttpResponse:
    deployment = deployment_get(organization=context.organization, slug=slug)
    try:
        services.deployment_send_test(deployment=deployment, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("Test event sent. Its delivery is at the top of the log below.")
        )
    return redirect("deployment_webhooks", slug=deployment.slug)


@context_view(Perm.DEPLOYMENTS_MANAGE)
@require_POST
def deployment_resend(
    request: HttpRequest, slug: str, event_id: str, context: Context
) -> HttpResponse:
    deployment = deployment_get(organization=context.organization, slug=slug)
    message = selectors.message_get(deployment=deployment, event_id=event_id)
    try:
        services.message_resend(message=message, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Delivery queued again."))
    return redirect("deployment_webhooks", slug=deployment.slug)
