"""The SSO settings pages under ``/settings/organization/sso`` (owners and admins)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hypereal_site.api.errors import ApplicationError
from hypereal_site.forms import apply_validation_error
from orgs.access import context_view
from orgs.context import Context
from orgs.permissions import Perm

from . import checks, saml, selectors, services
from .domainnames import display_domain
from .forms import DomainClaimForm, connection_form_class, initial_for
from .models import SsoConnection


def _back() -> HttpResponse:
    return redirect("sso_settings")


def _sp_values(connection: SsoConnection) -> list[tuple[str, str, str]]:
    """(id, label, value) of what the identity provider's admin copies from us."""
    if connection.type == SsoConnection.Type.OIDC:
        return [("redirect-uri", _("Redirect URI"), selectors.redirect_uri(connection))]
    return [
        ("acs-url", _("ACS URL (reply URL)"), selectors.acs_url(connection)),
        ("sp-entity-id", _("Entity ID (audience)"), selectors.sp_entity_id(connection)),
    ]


def _check_view(connection: SsoConnection) -> dict:
    return {
        "status": connection.check_status,
        "code": connection.check_reason,
        "message": connection.check_message,
    }


def _certificates(connection: SsoConnection) -> list[dict]:
    return [
        {"label": label, **checks.certificate_facts(pem)}
        for label, pem in (
            (_("Signing certificate"), connection.saml_certificate),
            (_("Next certificate (rollover)"), connection.saml_certificate_next),
        )
        if pem
    ]


def _domain_rows(organization) -> list[dict]:
    return [
        {
            "domain": d,
            "display": display_domain(d.name),
            "record": selectors.txt_record(d),
        }
        for d in selectors.org_domains(organization=organization)
    ]


def _page(request: HttpRequest, context: Context, status: int = 200, claim_form=None):
    if context.is_personal:
        return render(request, "sso/personal.html", {"nav": "organization"}, status=status)
    org = context.organization
    connections = [
        {"connection": c, "sp_values": _sp_values(c)}
        for c in selectors.org_connections(organization=org)
    ]
    return render(
        request,
        "sso/settings.html",
        {
            "org": org,
            "context": context,
            "domains": _domain_rows(org),
            "connections": connections,
            "claim_form": claim_form or DomainClaimForm(),
            "nav": "organization",
        },
        status=status,
    )


@context_view(Perm.SSO_MANAGE)
@require_GET
def sso_settings(request: HttpRequest, context: Context) -> HttpResponse:
    return _page(request, context)


@context_view(Perm.SSO_MANAGE)
@require_POST
def domain_claim(request: HttpRequest, context: Context) -> HttpResponse:
    form = DomainClaimForm(request.POST)
    if form.is_valid():
        try:
            domain = services.domain_claim(
                organization=context.organization,
                actor=request.user,
                domain=form.cleaned_data["domain"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                _("%(domain)s claimed. Publish its TXT record, then press Verify.")
                % {"domain": display_domain(domain.name)},
            )
            return _back()
    return _page(request, context, status=400, claim_form=form)


@context_view(Perm.SSO_MANAGE)
@require_POST
def domain_verify(request: HttpRequest, domain: str, context: Context) -> HttpResponse:
    claim = selectors.domain_get(organization=context.organization, name=domain)
    name = display_domain(claim.name)
    try:
        claim = services.domain_verify(domain=claim, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _back()
    if claim.status == "verified":
        messages.success(request, _("%(domain)s is verified.") % {"domain": name})
    else:
        messages.error(
            request,
            _("%(domain)s is not verified yet: %(detail)s")
            % {"domain": name, "detail": claim.last_check_detail or claim.last_check_result},
        )
    return _back()


@context_view(Perm.SSO_MANAGE)
@require_POST
def domain_remove(request: HttpRequest, domain: str, context: Context) -> HttpResponse:
    claim = selectors.domain_get(organization=context.organization, name=domain)
    name = display_domain(claim.name)
    try:
        services.domain_remove(domain=claim, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("The claim on %(domain)s was removed.") % {"domain": name})
    return _back()


def _service_fields(form) -> dict:
    data = dict(form.cleaned_data)
    if "client_secret" in data and not data["client_secret"]:
        data["client_secret"] = None  # empty: keep the stored secret
    return data


def _form_page(request, context, form, connection_type, connection=None, status=200):
    if connection is not None and "client_secret" in form.fields:
        form.fields["client_secret"].help_text = _(
            "Stored encrypted and never shown. Leave empty to keep the one stored."
        )
    return render(
        request,
        "sso/connection.html",
        {
            "org": context.organization,
            "form": form,
            "connection_type": connection_type,
            "type_label": SsoConnection.Type(connection_type).label,
            "connection": connection,
            "sp_values": _sp_values(connection) if connection else [],
            "check": _check_view(connection) if connection else None,
            "certificates": _certificates(connection) if connection else [],
            "break_glass_warning": selectors.break_glass_warning(connection) if connection else "",
            "nav": "organization",
        },
        status=status,
    )


@context_view(Perm.SSO_MANAGE)
@require_http_methods(["GET", "POST"])
def connection_new(request: HttpRequest, context: Context) -> HttpResponse:
    if context.is_personal:
        return _page(request, context)
    connection_type = request.GET.get("type", "saml")
    if connection_type not in SsoConnection.Type.values:
        connection_type = "saml"
    form_class = connection_form_class(connection_type)
    owners = selectors.org_owner_members(organization=context.organization)
    if request.method == "GET":
        return _form_page(
            request, context, form_class(owners=owners, creating=True), connection_type
        )
    form = form_class(request.POST, owners=owners, creating=True)
    if form.is_valid():
        data = _service_fields(form)
        try:
            connection = services.connection_create(
                organization=context.organization,
                actor=request.user,
                type=connection_type,
                **data,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc, aliases={"domain": "domains"})
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                _("Connection created. Give your identity provider the values below."),
            )
            return redirect("sso_connection", provider_id=connection.provider_id)
    return _form_page(request, context, form, connection_type, status=400)


@context_view(Perm.SSO_MANAGE)
@require_http_methods(["GET", "POST"])
def connection_edit(request: HttpRequest, provider_id: str, context: Context) -> HttpResponse:
    connection = selectors.connection_get(
        organization=context.organization, provider_id=provider_id
    )
    form_class = connection_form_class(connection.type)
    owners = selectors.org_owner_members(organization=context.organization)
    if request.method == "GET":
        form = form_class(initial=initial_for(connection), owners=owners)
        return _form_page(request, context, form, connection.type, connection)
    form = form_class(request.POST, owners=owners)
    if form.is_valid():
        try:
            services.connection_update(
                connection=connection, actor=request.user, **_service_fields(form)
            )
        except ValidationError as exc:
            apply_validation_error(form, exc, aliases={"domain": "domains"})
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Connection saved."))
            return redirect("sso_connection", provider_id=connection.provider_id)
    return _form_page(request, context, form, connection.type, connection, status=400)


@context_view(Perm.SSO_MANAGE)
@require_POST
def connection_delete(request: HttpRequest, provider_id: str, context: Context) -> HttpResponse:
    connection = selectors.connection_get(
        organization=context.organization, provider_id=provider_id
    )
    try:
        services.connection_delete(connection=connection, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Connection deleted. Its domains stay claimed."))
    return _back()


@context_view(Perm.SSO_MANAGE)
@require_GET
def connection_sp_metadata(
    request: HttpRequest, provider_id: str, context: Context
) -> HttpResponse:
    """Our SP metadata for the IdP's admin to upload (built from SITE_URL)."""
    connection = selectors.connection_get(
        organization=context.organization, provider_id=provider_id
    )
    if connection.type != SsoConnection.Type.SAML:
        raise Http404("Only a SAML connection has SP metadata.")
    response = HttpResponse(
        saml.sp_metadata(connection.provider_id), content_type="application/samlmetadata+xml"
    )
    filename = f"hypereal-sp-metadata-{connection.provider_id}.xml"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
