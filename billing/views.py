import logging
from datetime import date
from urllib.parse import urlsplit

import stripe
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hypereal_site.api.errors import ApplicationError, error_response
from hypereal_site.csvstream import Column, stream_csv
from orgs.access import context_view, public_view
from orgs.context import Context
from orgs.permissions import Perm

from . import ledger, local_checkout, payments, selectors, services, stripe_gateway
from .forms import StatementMonthForm, ThresholdForm, TopUpForm
from .models import CatalogModel, Endpoint, Payment
from .money import format_credits, format_usd

logger = logging.getLogger("hypereal.billing")

PRESETS_USD = (10, 25, 100)


def _credits_input(amount_microcredits: int) -> str:
    """A form's initial value, to the micro-credit, so that saving it unchanged keeps it."""
    return format_credits(amount_microcredits, 6).replace(",", "").rstrip("0").rstrip(".")


def _overview(request: HttpRequest, context: Context, status: int = 200, **forms) -> HttpResponse:
    wallet = selectors.wallet_for(organization=context.organization)
    threshold = wallet.low_balance_threshold_microcredits
    reserved = selectors.wallet_reserved(organization_id=context.organization.pk)
    return render(
        request,
        "billing/overview.html",
        {
            "wallet": wallet,
            "reserved": reserved,
            "available": wallet.available_microcredits - reserved,
            "holds": selectors.wallet_open_holds(wallet=wallet),
            "payments": selectors.wallet_payments(wallet=wallet)[:20],
            "entries": selectors.wallet_entries(wallet=wallet)[:50],
            "topup_form": forms.get("topup_form") or TopUpForm(),
            "threshold_form": forms.get("threshold_form")
            or ThresholdForm(
                initial={"threshold": _credits_input(threshold)} if threshold is not None else {}
            ),
            "presets": PRESETS_USD,
            "stripe_configured": stripe_gateway.is_configured(),
            "local_checkout": local_checkout.enabled(),
            "can_manage": context.allows(Perm.BILLING_MANAGE),
            "context": context,
            "nav": "billing",
            "this_month": timezone.now().strftime("%Y-%m"),
        },
        status=status,
    )


@context_view(Perm.BILLING_VIEW)
@require_GET
def billing_overview(request: HttpRequest, context: Context) -> HttpResponse:
    if request.GET.get("topup") == "cancelled":
        messages.info(request, _("Top-up cancelled; nothing was charged."))
    return _overview(request, context)


@context_view(Perm.BILLING_MANAGE)
@require_POST
def billing_topup(request: HttpRequest, context: Context) -> HttpResponse:
    form = TopUpForm(request.POST)
    if form.is_valid():
        wallet = ledger.wallet_get_or_create(organization=context.organization)
        try:
            _payment, url = payments.topup_start(
                wallet=wallet, actor=request.user, amount_cents=form.amount_cents
            )
        except payments.StripeNotConfigured as exc:
            # The environment variables are for whoever runs the console, not its users.
            form.add_error(
                None,
                exc.message
                if request.user.is_staff
                else _("Top-ups are not available on this console yet."),
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        except stripe.StripeError as exc:
            logger.warning("checkout session failed: %s", exc)
            form.add_error(None, _("Stripe could not start the payment. Try again in a moment."))
        else:
            return redirect(url)
    return _overview(request, context, status=400, topup_form=form)


def _local_session_or_404(context: Context, session_id: str) -> dict:
    """An open local checkout session of this context's wallet; 404 for anything else,
    and always when the local checkout is off (production settings)."""
    if not local_checkout.enabled():
        raise Http404("No such page.")
    session = local_checkout.session_get(session_id)
    wallet = selectors.wallet_for(organization=context.organization)
    if session is None or session["metadata"].get("wallet") != wallet.public_id:
        raise Http404("No such checkout session.")
    return session


def _same_site_path(url: str, fallback: str) -> str:
    """The path and query of a session's return URL: the payer stays on this server
    whatever ``SITE_URL`` says (``make run PORT=…``)."""
    parts = urlsplit(url or "")
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if not target or not url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return fallback
    return target


@context_view(Perm.BILLING_MANAGE)
@require_http_methods(["GET", "POST"])
def billing_local_checkout(request: HttpRequest, session_id: str, context: Context) -> HttpResponse:
    """The local checkout's payment step (development only, see billing/local_checkout.py).
    POST ``pay`` signs a ``checkout.session.completed`` event and hands it to the webhook
    handler; POST ``cancel`` expires the session the same way and returns to billing."""
    session = _local_session_or_404(context, session_id)
    if request.method == "GET":
        return render(
            request,
            "billing/local_checkout.html",
            {"session": session, "context": context, "nav": "billing"},
            status=200 if session["status"] == "open" else 409,
        )
    overview = reverse("billing_overview")
    if session["status"] != "open":
        messages.info(request, _("This checkout session is already closed."))
        return redirect(overview)
    if request.POST.get("action") == "pay":
        kind, session, back = (
            "checkout.session.completed",
            local_checkout.session_complete(session),
            _same_site_path(session["success_url"], overview),
        )
    else:
        kind, session, back = (
            "checkout.session.expired",
            local_checkout.session_expire(session),
            _same_site_path(session["cancel_url"], overview),
        )
    payload, signature = local_checkout.delivery(kind, session)
    try:
        # The webhook's own handler: it verifies the signature, stores the event and posts
        # the credit exactly as for a delivery from Stripe.
        payments.webhook_receive(payload=payload, signature=signature)
    except stripe.SignatureVerificationError:
        messages.error(request, _("The payment could not be verified; nothing was added."))
        return redirect(overview)
    except payments.WebhookHandlerFailed:
        messages.error(request, _("The payment could not be recorded; see the server log."))
        return redirect(overview)
    local_checkout.session_save(session)
    return redirect(back)


def _payment_or_404(context: Context, public_id: str) -> Payment:
    wallet = selectors.wallet_for(organization=context.organization)
    payment = selectors.payment_get(wallet=wallet, public_id=public_id)
    if payment is None:
        raise Http404("No such payment.")
    return payment


@context_view(Perm.BILLING_VIEW)
@require_GET
def billing_topup_success(request: HttpRequest, public_id: str, context: Context) -> HttpResponse:
    """Where Stripe sends the payer back. It never grants credits (the webhook does); it
    shows the payment's state and polls until the credit lands."""
    payment = _payment_or_404(context, public_id)
    template = "billing/topup_success.html#status" if request.htmx else "billing/topup_success.html"
    return render(
        request,
        template,
        {"payment": payment, "wallet": payment.wallet, "nav": "billing"},
    )


@context_view(Perm.BILLING_MANAGE)
@require_POST
def billing_alerts(request: HttpRequest, context: Context) -> HttpResponse:
    form = ThresholdForm(request.POST)
    if form.is_valid():
        wallet = ledger.wallet_get_or_create(organization=context.organization)
        try:
            services.wallet_set_low_balance_threshold(
                wallet=wallet,
                actor=request.user,
                threshold_microcredits=form.cleaned_data["threshold"],
            )
        except ValidationError as exc:
            form.add_error("threshold", exc.messages)
        else:
            value = form.cleaned_data["threshold"]
            messages.success(
                request,
                _("Low-balance alert turned off.")
                if value is None
                else _("We will email you when the balance drops below %(credits)s credits.")
                % {"credits": format_credits(value)},
            )
            return redirect("billing_overview")
    return _overview(request, context, status=400, threshold_form=form)


def _statement_month(request: HttpRequest) -> date | None:
    form = StatementMonthForm(request.GET)
    if not form.is_valid():
        return None
    text = form.cleaned_data.get("month") or timezone.now().strftime("%Y-%m")
    year, month = (int(x) for x in text.split("-"))
    if year < 1:  # "0000-01" is shaped like a month but no date has it
        return None
    return date(year, month, 1)


def _month_text(month: date) -> str:
    return month.strftime("%Y-%m")


def _statement_unavailable(
    request: HttpRequest, context: Context, *, reason: str, first: date, status: int
) -> HttpResponse:
    """A month the account has no statement for: the console page saying why."""
    return render(
        request,
        "billing/statement.html",
        {
            "unavailable": reason,
            "context": context,
            "month_value": request.GET.get("month", "")[:7],
            "first_month": _month_text(first),
            "this_month": timezone.now().strftime("%Y-%m"),
            "nav": "billing",
        },
        status=status,
    )


def _statement_month_or_page(
    request: HttpRequest, context: Context, *, first: date
) -> date | HttpResponse:
    """The month asked for, or the console page saying why it has no statement: malformed
    (400), not begun yet or before the account's first month (404). The page and its CSV
    share it, so neither invents a statement for a month the account never had."""
    month = _statement_month(request)
    today = timezone.now().date()
    if month is None:
        return _statement_unavailable(
            request,
            context,
            reason=_("Pick a month as year and month, for example %(example)s.")
            % {"example": today.strftime("%Y-%m")},
            first=first,
            status=400,
        )
    if month > today.replace(day=1):
        return _statement_unavailable(
            request,
            context,
            reason=_("%(month)s has not begun yet; its statement appears once it has.")
            % {"month": _month_text(month)},
            first=first,
            status=404,
        )
    if month < first:
        return _statement_unavailable(
            request,
            context,
            reason=_(
                "There is no statement for %(month)s: this account's first month is %(first)s."
            )
            % {"month": _month_text(month), "first": _month_text(first)},
            first=first,
            status=404,
        )
    return month


@context_view(Perm.BILLING_VIEW)
@require_GET
def billing_statement(request: HttpRequest, context: Context) -> HttpResponse:
    wallet = selectors.wallet_for(organization=context.organization)
    first = selectors.wallet_first_month(wallet=wallet)
    month = _statement_month_or_page(request, context, first=first)
    if isinstance(month, HttpResponse):
        return month
    today = timezone.now().date()
    statement = selectors.wallet_statement(wallet=wallet, month=month)
    prev_month = date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)
    next_month = date(month.year + (month.month == 12), month.month % 12 + 1, 1)
    return render(
        request,
        "billing/statement.html",
        {
            "statement": statement,
            "wallet": wallet,
            "context": context,
            "month_value": _month_text(month),
            "prev_month": _month_text(prev_month) if prev_month >= first else None,
            "next_month": _month_text(next_month) if next_month <= today else None,
            "nav": "billing",
        },
    )


_STATEMENT_COLUMNS = (
    Column("time", "created_at", "time"),
    Column("kind", "kind"),
    Column("description", "description"),
    Column("reference", "reference"),
    Column("amount_credits", "amount_microcredits", "microcredits"),
    Column("balance_credits", "balance_after_microcredits", "microcredits"),
)


@context_view(Perm.BILLING_VIEW)
@require_GET
def billing_statement_csv(request: HttpRequest, context: Context) -> HttpResponse:
    wallet = selectors.wallet_for(organization=context.organization)
    month = _statement_month_or_page(
        request, context, first=selectors.wallet_first_month(wallet=wallet)
    )
    if isinstance(month, HttpResponse):
        return month
    statement = selectors.wallet_statement(wallet=wallet, month=month)
    start, end = statement["start"], statement["end"]
    name = context.organization.slug or "personal"
    return stream_csv(
        selectors.wallet_entries_between(wallet=wallet, start=start, end=end),
        _STATEMENT_COLUMNS,
        filename=f"hypereal-statement-{name}-{month:%Y-%m}.csv",
        before=[(start, "opening", "Opening balance", "", None, statement["opening_microcredits"])],
        after=[(end, "closing", "Closing balance", "", None, statement["closing_microcredits"])],
    )


@public_view
@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's webhook endpoint. Bad or stale signature: 400 and nothing stored. A handler
    failure: 500 with the error recorded on the stored event, so Stripe redelivers."""
    if not stripe_gateway.is_configured():
        return error_response("stripe_not_configured", "Stripe is not configured.", 503)
    try:
        event = payments.webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except stripe.SignatureVerificationError:
        return error_response("invalid_signature", "Bad or stale signature.", 400)
    except payments.WebhookHandlerFailed:
        # Before the generic ValueError below: a handler's ValueError (an amount mismatch)
        # is our failure to record and retry, not a malformed delivery.
        return error_response("handler_failed", "Recorded; will retry.", 500)
    except (ValueError, RecursionError):
        # Not JSON, not an event, or (signed, so ours to fear only in theory) nested
        # beyond what the decoder can follow.
        return error_response("invalid_payload", "Not a Stripe event.", 400)
    except Exception:
        logger.exception("stripe webhook failed before its event was handled")
        return error_response("handler_failed", "Recorded; will retry.", 500)
    return JsonResponse({"received": True, "status": event.status})


@public_view
@require_GET
def models_page(request: HttpRequest) -> HttpResponse:
    """Public pricing: active models, unit and price in credits and USD, by family."""
    family = request.GET.get("family", "")
    query = request.GET.get("q", "").strip()
    models = selectors.catalog_models_public(family=family, query=query)
    return render(
        request,
        "billing/models.html",
        {
            "models": models,
            "families": CatalogModel.Family.choices,
            "family": family,
            "q": query,
            "endpoints": dict(Endpoint.choices),
            "nav": "models",
            "format_usd": format_usd,
        },
    )
