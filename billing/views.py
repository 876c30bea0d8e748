import csv
import logging
from datetime import date

import stripe
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from hypereal_site.api.errors import ApplicationError
from orgs.access import context_view, public_view
from orgs.context import Context
from orgs.permissions import Perm

from . import ledger, payments, selectors, services, stripe_gateway
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
    return render(
        request,
        "billing/overview.html",
        {
            "wallet": wallet,
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
        messages.info(request, "Top-up cancelled; nothing was charged.")
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
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        except stripe.StripeError as exc:
            logger.warning("checkout session failed: %s", exc)
            form.add_error(None, "Stripe could not start the payment. Try again in a moment.")
        else:
            return redirect(url)
    return _overview(request, context, status=400, topup_form=form)


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
                "Low-balance alert turned off."
                if value is None
                else f"We will email you when the balance drops below {format_credits(value)} "
                "credits.",
            )
            return redirect("billing_overview")
    return _overview(request, context, status=400, threshold_form=form)


def _statement_month(request: HttpRequest) -> date | None:
    form = StatementMonthForm(request.GET)
    if not form.is_valid():
        return None
    text = form.cleaned_data.get("month") or timezone.now().strftime("%Y-%m")
    year, month = (int(x) for x in text.split("-"))
    return date(year, month, 1)


@context_view(Perm.BILLING_VIEW)
@require_GET
def billing_statement(request: HttpRequest, context: Context) -> HttpResponse:
    month = _statement_month(request)
    if month is None:
        return HttpResponseBadRequest("month must look like 2026-05")
    wallet = selectors.wallet_for(organization=context.organization)
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
            "month_value": month.strftime("%Y-%m"),
            "prev_month": prev_month.strftime("%Y-%m"),
            "next_month": next_month.strftime("%Y-%m")
            if next_month <= timezone.now().date()
            else None,
            "nav": "billing",
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@context_view(Perm.BILLING_VIEW)
@require_GET
def billing_statement_csv(request: HttpRequest, context: Context) -> HttpResponse:
    month = _statement_month(request)
    if month is None:
        return HttpResponseBadRequest("month must look like 2026-05")
    wallet = selectors.wallet_for(organization=context.organization)
    statement = selectors.wallet_statement(wallet=wallet, month=month)

    def rows():
        writer = csv.writer(_Echo())
        yield writer.writerow(
            ["time", "kind", "description", "reference", "amount_credits", "balance_credits"]
        )
        yield writer.writerow(
            [
                statement["start"].isoformat(),
                "opening",
                "Opening balance",
                "",
                "",
                format_credits(statement["opening_microcredits"], 6).replace(",", ""),
            ]
        )
        for e in statement["entries"]:
            yield writer.writerow(
                [
                    e.created_at.isoformat(),
                    e.kind,
                    e.description,
                    e.reference,
                    format_credits(e.amount_microcredits, 6).replace(",", ""),
                    format_credits(e.balance_after_microcredits, 6).replace(",", ""),
                ]
            )
        yield writer.writerow(
            [
                statement["end"].isoformat(),
                "closing",
                "Closing balance",
                "",
                "",
                format_credits(statement["closing_microcredits"], 6).replace(",", ""),
            ]
        )

    name = context.organization.slug or "personal"
    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="hypereal-statement-{name}-{month:%Y-%m}.csv"'
    )
    return response


@public_view
@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's webhook endpoint. Bad or stale signature: 400 and nothing stored. A handler
    failure: 500 with the error recorded on the stored event, so Stripe redelivers."""
    if not stripe_gateway.is_configured():
        return JsonResponse(
            {"error": {"type": "stripe_not_configured", "message": "Stripe is not configured."}},
            status=503,
        )
    try:
        event = payments.webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
    except stripe.SignatureVerificationError:
        return JsonResponse(
            {"error": {"type": "invalid_signature", "message": "Bad or stale signature."}},
            status=400,
        )
    except payments.WebhookHandlerFailed:
        # Before the generic ValueError below: a handler's ValueError (an amount mismatch)
        # is our failure to record and retry, not a malformed delivery.
        return JsonResponse(
            {"error": {"type": "handler_failed", "message": "Recorded; will retry."}},
            status=500,
        )
    except ValueError:
        return JsonResponse(
            {"error": {"type": "invalid_payload", "message": "Not a Stripe event."}}, status=400
        )
    except Exception:
        logger.exception("stripe webhook failed before its event was handled")
        return JsonResponse(
            {"error": {"type": "handler_failed", "message": "Recorded; will retry."}},
            status=500,
        )
    return JsonResponse({"received": True, "status": event.status})


@public_view
@require_GET
def models_page(request: HttpRequest) -> HttpResponse:
    """Public pricing: active models, unit and price in credits and USD, by family."""
    family = request.GET.get("family", "")
    query = request.GET.get("q", "").strip()
    models = CatalogModel.objects.filter(active=True).prefetch_related("aliases")
    if family in CatalogModel.Family.values:
        models = models.filter(family=family)
    if query:
        models = models.filter(Q(model_id__icontains=query) | Q(display_name__icontains=query))
    return render(
        request,
        "billing/models.html",
        {
            "models": models,
            "families": CatalogModel.Family.choices,
            "family": family,
            "q": query,
            "endpoints": dict(Endpoint.choices),
            "nav": "billing",
            "format_usd": format_usd,
        },
    )
