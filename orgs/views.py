from datetime import UTC, datetime, time, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hypereal_site.api.errors import ApplicationError
from hypereal_site.forms import apply_validation_error
from hypereal_site.text import isolate

from . import selectors, services
from .access import account_view, context_view, public_view
from .audit import audit_csv_response
from .context import Context, context_switch, current_context
from .forms import (
    AuditFilterForm,
    DeleteOrgForm,
    InviteForm,
    OrgCreateForm,
    OrgUpdateForm,
    RoleForm,
    TransferForm,
)
from .permissions import Perm, Role

AUDIT_PAGE_SIZE = 25
PENDING_INVITATION_SESSION_KEY = "hypereal.pending_invitation"


def _settings_page(request: HttpRequest, context: Context, status: int = 200, **forms):
    org = context.organization
    if context.is_personal:
        return render(
            request,
            "orgs/personal.html",
            {
                "memberships": selectors.user_team_memberships(user=request.user),
                "create_form": forms.get("create_form") or OrgCreateForm(),
                "nav": "organization",
            },
            status=status,
        )
    members = list(selectors.org_members(organization=org))
    return render(
        request,
        "orgs/settings.html",
        {
            "context": context,
            "org": org,
            "members": members,
            "member_rows": selectors.member_actions(viewer=context.membership, members=members),
            "invitations": selectors.org_open_invitations(organization=org),
            "update_form": forms.get("update_form")
            or OrgUpdateForm(initial={"name": org.name, "slug": org.slug}),
            "invite_form": forms.get("invite_form") or InviteForm(),
            "transfer_form": forms.get("transfer_form")
            or TransferForm(members=[m for m in members if m.user_id != request.user.pk]),
            # Another app's block on this page, bound after a failed save (apikeys' default cap).
            "key_defaults_form": forms.get("key_defaults_form"),
            "can": {p.name.lower(): context.allows(p) for p in Perm},
            "now": timezone.now(),
            "nav": "organization",
        },
        status=status,
    )


def settings_page(request: HttpRequest, context: Context, status: int = 200, **forms):
    """The settings page for another app's form on it to re-render with its errors."""
    return _settings_page(request, context, status=status, **forms)


def _back() -> HttpResponse:
    return redirect("org_settings")


# --- pages ----------------------------------------------------------------------------


@context_view(Perm.MEMBERS_VIEW)
@require_GET
def org_settings(request: HttpRequest, context: Context) -> HttpResponse:
    return _settings_page(request, context)


@account_view
@require_POST
def org_create(request: HttpRequest) -> HttpResponse:
    form = OrgCreateForm(request.POST)
    if form.is_valid():
        try:
            org = services.org_create(
                actor=request.user, name=form.cleaned_data["name"], slug=form.cleaned_data["slug"]
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            context_switch(request, public_id=org.public_id)
            messages.success(request, _("%(org)s is ready. You are its owner.") % {"org": org.name})
            return _back()
    return _settings_page(request, current_context(request), status=400, create_form=form)


@context_view(Perm.ORG_SETTINGS)
@require_POST
def org_update(request: HttpRequest, context: Context) -> HttpResponse:
    form = OrgUpdateForm(request.POST)
    if form.is_valid():
        try:
            services.org_update(
                organization=context.organization,
                actor=request.user,
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, _("Organization settings saved."))
            return _back()
    return _settings_page(request, context, status=400, update_form=form)


@context_view(Perm.MEMBERS_MANAGE)
@require_POST
def invitation_create(request: HttpRequest, context: Context) -> HttpResponse:
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation, _token = services.invitation_create(
                organization=context.organization,
                actor=request.user,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": isolate(invitation.email)}
            )
            return _back()
    return _settings_page(request, context, status=400, invite_form=form)


def _run(request: HttpRequest, action, success: str) -> HttpResponse:
    try:
        action()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return _back()


@context_view(Perm.MEMBERS_MANAGE)
@require_POST
def invitation_resend(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    invitation = selectors.invitation_get(organization=context.organization, public_id=public_id)
    return _run(
        request,
        lambda: services.invitation_resend(invitation=invitation, actor=request.user),
        _("A new invitation link was sent to %(email)s; the old one no longer works.")
        % {"email": isolate(invitation.email)},
    )


@context_view(Perm.MEMBERS_MANAGE)
@require_POST
def invitation_revoke(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    invitation = selectors.invitation_get(organization=context.organization, public_id=public_id)
    return _run(
        request,
        lambda: services.invitation_revoke(invitation=invitation, actor=request.user),
        _("The invitation for %(email)s was revoked.") % {"email": isolate(invitation.email)},
    )


@context_view(Perm.MEMBERS_MANAGE)
@require_POST
def member_role(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    member = selectors.member_get(organization=context.organization, public_id=public_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
        return _back()
    role = form.cleaned_data["role"]
    return _run(
        request,
        lambda: services.member_set_role(membership=member, actor=request.user, role=role),
        _("%(email)s is now %(role)s.")
        % {"email": isolate(member.user.email), "role": Role(role).label},
    )


@context_view(Perm.MEMBERS_MANAGE)
@require_POST
def member_remove(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    member = selectors.member_get(organization=context.organization, public_id=public_id)
    return _run(
        request,
        lambda: services.member_remove(membership=member, actor=request.user),
        _("%(email)s was removed from %(org)s.")
        % {"email": isolate(member.user.email), "org": isolate(context.organization.name)},
    )


@context_view(Perm.MEMBERS_VIEW)
@require_POST
def org_leave(request: HttpRequest, context: Context) -> HttpResponse:
    org = context.organization
    try:
        services.member_leave(organization=org, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _back()
    context_switch(request, public_id=None)
    messages.success(request, _("You left %(org)s.") % {"org": org.name})
    return redirect("dashboard")


@context_view(Perm.ORG_DELETE)
@require_POST
def org_transfer(request: HttpRequest, context: Context) -> HttpResponse:
    members = [
        m
        for m in selectors.org_members(organization=context.organization)
        if m.user_id != request.user.pk
    ]
    form = TransferForm(request.POST, members=members)
    if not form.is_valid():
        return _settings_page(request, context, status=400, transfer_form=form)
    target = next(m for m in members if m.public_id == form.cleaned_data["member"])
    return _run(
        request,
        lambda: services.org_transfer_ownership(
            organization=context.organization, actor=request.user, to=target
        ),
        _("%(email)s is now an owner; you are an admin.") % {"email": isolate(target.user.email)},
    )


@context_view(Perm.ORG_DELETE)
@require_http_methods(["GET", "POST"])
def org_delete(request: HttpRequest, context: Context) -> HttpResponse:
    org = context.organization
    if org.is_personal:
        return redirect("account_delete")
    form = DeleteOrgForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.org_delete(
                organization=org,
                actor=request.user,
                confirm_slug=form.cleaned_data["confirm_slug"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            context_switch(request, public_id=None)
            messages.success(request, _("%(org)s was deleted.") % {"org": org.name})
            return redirect("dashboard")
    return render(
        request,
        "orgs/delete.html",
        {"org": org, "form": form, "nav": "organization"},
        status=400 if form.errors else 200,
    )


# --- audit log ------------------------------------------------------------------------


def _audit_filtered(request: HttpRequest, context: Context):
    form = AuditFilterForm(request.GET or None)
    filters: dict = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {"action": data["action"].strip(), "actor": data["actor"].strip()}
        if data["since"]:
            filters["since"] = datetime.combine(data["since"], time.min, tzinfo=UTC)
        if data["until"]:
            filters["until"] = datetime.combine(
                data["until"] + timedelta(days=1), time.min, tzinfo=UTC
            )
    events = selectors.audit_events(organization=context.organization, **filters)
    return form, events


@context_view(Perm.AUDIT_VIEW)
@require_GET
def audit_log(request: HttpRequest, context: Context) -> HttpResponse:
    form, events = _audit_filtered(request, context)
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    template = "orgs/audit.html#results" if request.htmx else "orgs/audit.html"
    return render(
        request,
        template,
        {
            "org": context.organization,
            "context": context,
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "actions": selectors.audit_actions(organization=context.organization),
            "show_origin": context.allows(Perm.AUDIT_VIEW_ORIGIN),
            "nav": "organization",
        },
        status=400 if form.errors else 200,
    )


@context_view(Perm.AUDIT_VIEW)
@require_GET
def audit_export(request: HttpRequest, context: Context) -> HttpResponse:
    form, events = _audit_filtered(request, context)
    if form.errors:
        return audit_log(request)
    return audit_csv_response(
        events=events,
        organization=context.organization,
        show_origin=context.allows(Perm.AUDIT_VIEW_ORIGIN),
    )


# --- context and invitations ----------------------------------------------------------


@account_view
@require_POST
def context_switch_view(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("organization") or None
    context = context_switch(request, public_id=target)
    messages.info(
        request,
        _("Switched to your personal account.")
        if context.is_personal
        else _("Switched to %(org)s.") % {"org": isolate(context.organization.name)},
    )
    next_url = request.POST.get("next") or reverse("dashboard")
    if not next_url.startswith("/") or next_url.startswith("//"):
        next_url = reverse("dashboard")
    return redirect(next_url)


@public_view
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_lookup(token=token)
    except services.InvitationError as exc:
        return render(request, "orgs/invitation.html", {"error": exc.message}, status=exc.status)
    page = {"invitation": invitation, "organization": invitation.organization}
    status_now = invitation.status()
    if status_now in {"expired", "revoked"}:
        message = (
            _("This invitation has expired. Ask the organization to send a new one.")
            if status_now == "expired"
            else _("This invitation was revoked by the organization.")
        )
        return render(request, "orgs/invitation.html", {**page, "error": message}, status=410)
    if not request.user.is_authenticated:
        # Remembered for after sign-up: email verification breaks the ?next= chain, so the
        # account adapter sends the next login here (PENDING_INVITATION_SESSION_KEY).
        request.session[PENDING_INVITATION_SESSION_KEY] = request.path
        return render(request, "orgs/invitation.html", {**page, "anonymous": True})
    if request.method == "POST":
        try:
            membership = services.invitation_accept(token=token, user=request.user)
        except services.InvitationError as exc:
            return render(
                request, "orgs/invitation.html", {**page, "error": exc.message}, status=exc.status
            )
        context_switch(request, public_id=membership.organization.public_id)
        messages.success(
            request,
            _("Welcome to %(org)s. Your role: %(role)s.")
            % {"org": membership.organization.name, "role": membership.get_role_display()},
        )
        return redirect("dashboard")
    if status_now == "accepted":
        if invitation.accepted_by_id == request.user.pk and selectors.membership_get(
            organization=invitation.organization, user=request.user
        ):
            # The person who accepted opens the link again: nothing to do, take them in.
            context_switch(request, public_id=invitation.organization.public_id)
            messages.info(
                request,
                _("You are already a member of %(org)s.") % {"org": invitation.organization.name},
            )
            return redirect("dashboard")
        error = _("This invitation has already been used.")
        return render(request, "orgs/invitation.html", {**page, "error": error}, status=409)
    mismatch = request.user.email.lower() != invitation.email.lower()
    return render(request, "orgs/invitation.html", {**page, "mismatch": mismatch})
