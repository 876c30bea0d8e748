from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from hypereal_site.api.errors import ApplicationError
from hypereal_site.forms import apply_validation_error
from hypereal_site.text import isolate
from orgs.access import context_view
from orgs.context import Context
from orgs.permissions import Perm
from orgs.views import settings_page

from . import selectors, services
from .forms import DefaultKeyLimitForm, KeyForm, RotateForm
from .models import ApiKey

# The services name fields as the API does; the forms use Python names.
FIELD_ALIASES = {
    "spendingLimit": "spending_limit",
    "expiresAt": "expires_at",
    "allowedModels": "allowed_models",
    "gracePeriodSeconds": "grace_hours",
    "autoDisable": "auto_disable",
}


def _cap_denied(form, exc: services.CapDenied) -> None:
    field = FIELD_ALIASES.get(exc.field, exc.field)
    form.add_error(field if field in form.fields else None, exc.message)


def _key_form(context: Context, data=None, *, editing: bool = False, **kwargs) -> KeyForm:
    """New keys start at the owner's default cap (shown, and changeable within the rules);
    an edit starts at the key's own settings."""
    default = None if editing else context.organization.default_key_spending_limit_microcredits
    kwargs.setdefault("initial", {"spending_limit": default})
    return KeyForm(
        data,
        may_raise_caps=context.allows(Perm.KEYS_CAP_RAISE),
        default_limit=default,
        **kwargs,
    )


def _rows(keys: list[ApiKey]) -> list[dict]:
    spend = selectors.keys_period_spend(keys=keys)
    rows = []
    for key in keys:
        used = spend.get(key.pk, 0)
        limit = key.spending_limit_microcredits
        rows.append(
            {
                "key": key,
                "spend": used,
                "percent": min(100, used * 100 // limit) if limit else None,
            }
        )
    return rows


@context_view(Perm.KEYS_VIEW)
@require_GET
def key_list(request: HttpRequest, context: Context) -> HttpResponse:
    keys = list(selectors.apikey_list(organization=context.organization))
    return render(
        request,
        "apikeys/list.html",
        {
            "rows": _rows(keys),
            "context": context,
            "can_manage": context.allows(Perm.KEYS_MANAGE),
            "form": _key_form(context),
            "nav": "keys",
        },
    )


@never_cache
@context_view(Perm.KEYS_MANAGE)
@require_http_methods(["GET", "POST"])
def key_create(request: HttpRequest, context: Context) -> HttpResponse:
    """A dialog (htmx) or a page (no JavaScript). On success the same response reveals the
    plaintext, once; it is never stored or shown again."""
    form = _key_form(context, request.POST if request.method == "POST" else None)
    partial = "apikeys/create.html#dialog" if request.htmx else "apikeys/create.html"
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            key, plaintext = services.apikey_create(
                organization=context.organization,
                actor=request.user,
                name=data["name"],
                spending_limit_microcredits=data["spending_limit"],
                auto_disable=data["auto_disable"],
                expires_at=data["expires_at"],
                allowed_models=data["allowed_models"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc, FIELD_ALIASES)
        except services.CapDenied as exc:
            _cap_denied(form, exc)
        else:
            template = "apikeys/create.html#reveal" if request.htmx else "apikeys/create.html"
            response = render(
                request,
                template,
                {"key": key, "plaintext": plaintext, "nav": "keys"},
                status=201,
            )
            response["HX-Trigger"] = "key-created"
            return response
    # htmx swaps only 2xx answers, so the dialog's field errors come back as 200.
    status = 400 if form.errors and not request.htmx else 200
    return render(request, partial, {"form": form, "nav": "keys"}, status=status)


def _detail(request, context: Context, key: ApiKey, status: int = 200, **forms) -> HttpResponse:
    spend = selectors.key_period_spend(key=key)
    limit = key.spending_limit_microcredits
    return render(
        request,
        "apikeys/detail.html",
        {
            "key": key,
            "spend": spend,
            "overshoot": selectors.key_period_overshoot(key=key),
            "percent": min(100, spend * 100 // limit) if limit else None,
            "alerts": selectors.key_alerts(key=key)[:20],
            # Through the relation: the usage app sits above this one and is not imported.
            "recent": key.usage_events.order_by("-occurred_at")[:20],
            "can_manage": context.allows(Perm.KEYS_MANAGE),
            "edit_form": forms.get("edit_form")
            or _key_form(
                context,
                editing=True,
                initial={
                    "name": key.name,
                    "spending_limit": limit,
                    "auto_disable": key.auto_disable,
                    "expires_at": key.expires_at,
                    "allowed_models": ", ".join(key.allowed_models),
                },
            ),
            "rotate_form": forms.get("rotate_form") or RotateForm(),
            "plaintext": forms.get("plaintext"),
            "period": selectors.current_period(),
            "nav": "keys",
        },
        status=status,
    )


@context_view(Perm.KEYS_VIEW)
@require_GET
def key_detail(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    key = selectors.apikey_get(organization=context.organization, public_id=public_id)
    return _detail(request, context, key)


@context_view(Perm.KEYS_MANAGE)
@require_POST
def key_edit(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    key = selectors.apikey_get(organization=context.organization, public_id=public_id)
    form = _key_form(context, request.POST, editing=True)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.apikey_update(
                key=key,
                actor=request.user,
                name=data["name"],
                spending_limit_microcredits=data["spending_limit"],
                auto_disable=data["auto_disable"],
                expires_at=data["expires_at"],
                allowed_models=data["allowed_models"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc, FIELD_ALIASES)
        except services.CapDenied as exc:
            _cap_denied(form, exc)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Key settings saved."))
            return redirect("apikeys_detail", public_id=key.public_id)
    return _detail(request, context, key, status=400, edit_form=form)


@never_cache
@context_view(Perm.KEYS_MANAGE)
@require_POST
def key_rotate(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    key = selectors.apikey_get(organization=context.organization, public_id=public_id)
    form = RotateForm(request.POST)
    if form.is_valid():
        try:
            key, plaintext = services.apikey_rotate(
                key=key, actor=request.user, grace_seconds=form.cleaned_data["grace_hours"] * 3600
            )
        except ValidationError as exc:
            apply_validation_error(form, exc, FIELD_ALIASES)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            return _detail(request, context, key, plaintext=plaintext)
    return _detail(request, context, key, status=400, rotate_form=form)


@context_view(Perm.KEYS_MANAGE)
@require_POST
def key_revoke(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    key = selectors.apikey_get(organization=context.organization, public_id=public_id)
    if request.POST.get("confirm") != key.name:
        messages.error(
            request, _("Type the key's name (%(name)s) to revoke it.") % {"name": key.name}
        )
        return redirect("apikeys_detail", public_id=key.public_id)
    services.apikey_revoke(key=key, actor=request.user)
    messages.success(
        request,
        _("Key %(name)s (%(masked)s) was revoked. It stops working now.")
        % {"name": isolate(key.name), "masked": isolate(key.masked)},
    )
    if request.htmx:
        return HttpResponseClientRedirect("/manage-api-keys")
    return redirect("apikeys_list")


@context_view(Perm.KEYS_MANAGE)
@require_POST
def key_enable(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    key = selectors.apikey_get(organization=context.organization, public_id=public_id)
    try:
        services.apikey_enable(key=key, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Key %(name)s is active again.") % {"name": key.name})
    return redirect("apikeys_detail", public_id=key.public_id)


@context_view(Perm.KEYS_DEFAULT_CAP)
@require_POST
def key_defaults_update(request: HttpRequest, context: Context) -> HttpResponse:
    """The default monthly cap for new keys, a block of the organization settings page."""
    form = DefaultKeyLimitForm(request.POST)
    if form.is_valid():
        try:
            services.org_default_key_limit_set(
                organization=context.organization,
                actor=request.user,
                limit_microcredits=form.cleaned_data["default_key_spending_limit"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Default limit for new keys saved."))
            return redirect("org_settings")
    return settings_page(request, context, status=400, key_defaults_form=form)
