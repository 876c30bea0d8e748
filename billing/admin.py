import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from hypereal_site.admin import ReadOnlyAdmin
from hypereal_site.api.errors import ApplicationError

from . import catalog
from .forms import StaffAdjustmentForm
from .models import (
    CatalogModel,
    Endpoint,
    FallbackTarget,
    Hold,
    Intent,
    LedgerEntry,
    ModelAlias,
    Payment,
    StripeEvent,
    Wallet,
)
from .money import format_credits
from .services import wallet_adjust


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ("organization", "balance", "held", "threshold", "adjust_link")
    search_fields = (
        "organization__name",
        "organization__slug",
        "public_id",
        "organization__personal_for__email",
    )
    readonly_fields = (
        "public_id",
        "organization",
        "balance_microcredits",
        "held_microcredits",
        "low_balance_threshold_microcredits",
        "low_balance_alerted",
    )

    @admin.display(description=gettext_lazy("Balance (credits)"))
    def balance(self, wallet: Wallet) -> str:
        return format_credits(wallet.balance_microcredits)

    @admin.display(description=gettext_lazy("Held (credits)"))
    def held(self, wallet: Wallet) -> str:
        return format_credits(wallet.held_microcredits)

    @admin.display(description=gettext_lazy("Alert below"))
    def threshold(self, wallet: Wallet) -> str:
        t = wallet.low_balance_threshold_microcredits
        return "" if t is None else format_credits(t)

    @admin.display(description="")
    def adjust_link(self, wallet: Wallet) -> str:
        url = reverse("admin:billing_wallet_adjust", args=[wallet.pk])
        return format_html('<a href="{}">{}</a>', url, _("Grant or correct…"))

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_staff

    def get_urls(self):
        return [
            path(
                "<int:wallet_id>/adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="billing_wallet_adjust",
            ),
            *super().get_urls(),
        ]

    def adjust_view(self, request, wallet_id: int):
        if not request.user.has_perm("billing.add_ledgerentry"):
            raise PermissionDenied
        wallet = get_object_or_404(Wallet.objects.select_related("organization"), pk=wallet_id)
        form = StaffAdjustmentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                entry = wallet_adjust(
                    wallet=wallet,
                    actor=request.user,
                    amount_microcredits=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    kind=form.cleaned_data["kind"],
                    # One form submission is one movement, even if the browser resends it.
                    idempotency_key=f"staff:{request.POST.get('nonce') or uuid.uuid4().hex}",
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            except ApplicationError as exc:  # the same submission resent with other values
                form.add_error(None, exc.message)
            else:
                self.message_user(
                    request,
                    _("Posted %(amount)s credits; balance now %(balance)s.")
                    % {
                        "amount": format_credits(entry.amount_microcredits),
                        "balance": format_credits(entry.balance_after_microcredits),
                    },
                    messages.SUCCESS,
                )
                return redirect("admin:billing_wallet_changelist")
        return render(
            request,
            "admin/billing/wallet_adjust.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Grant or correct credits: %(owner)s") % {"owner": wallet.organization},
                "wallet": wallet,
                "form": form,
                "nonce": uuid.uuid4().hex,
                "opts": self.model._meta,
            },
        )


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "wallet",
        "kind",
        "credits",
        "balance_after",
        "reference",
        "actor_label",
    )
    list_filter = ("kind",)
    search_fields = ("idempotency_key", "reference", "wallet__organization__name", "actor_label")
    date_hierarchy = "created_at"

    @admin.display(description=gettext_lazy("Amount (credits)"))
    def credits(self, entry: LedgerEntry) -> str:
        return format_credits(entry.amount_microcredits, 6)

    @admin.display(description=gettext_lazy("Balance after"))
    def balance_after(self, entry: LedgerEntry) -> str:
        return format_credits(entry.balance_after_microcredits)


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "wallet", "amount_microcredits", "status", "expires_at")
    list_filter = ("status",)
    search_fields = ("public_id", "reference")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "wallet",
        "amount_cents",
        "status",
        "refunded_cents",
        "disputed_cents",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("public_id", "checkout_session_id", "payment_intent_id", "charge_id")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "type", "event_id", "status", "attempts")
    list_filter = ("status", "type")
    search_fields = ("event_id",)


class CatalogModelForm(forms.ModelForm):
    """Prices typed the way people read them: credits per million tokens / per unit."""

    input_price = forms.DecimalField(
        label=gettext_lazy("Input (credits per 1M tokens)"),
        required=False,
        max_digits=14,
        decimal_places=3,
    )
    output_price = forms.DecimalField(
        label=gettext_lazy("Output (credits per 1M tokens)"),
        required=False,
        max_digits=14,
        decimal_places=3,
    )
    unit_price = forms.DecimalField(
        label=gettext_lazy("Unit price (credits per image / second / clip / request)"),
        required=False,
        max_digits=16,
        decimal_places=6,
    )

    class Meta:
        model = CatalogModel
        fields = (
            "model_id",
            "display_name",
            "family",
            "endpoints",
            "active",
            "pricing",
            "tier_microcredits",
            "max_seconds",
            "default_price",
        )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["input_price"].initial = (
                Decimal(self.instance.input_nanocredits_per_token) / 1000
            )
            self.fields["output_price"].initial = (
                Decimal(self.instance.output_nanocredits_per_token) / 1000
            )
            self.fields["unit_price"].initial = Decimal(self.instance.unit_microcredits) / 10**6
        self.fields["tier_microcredits"].help_text = gettext_lazy(
            'Per-size prices in µcr, e.g. {"1K": 4000000, "2K": 8000000}. Empty for none.'
        )

    def clean(self):
        data = super().clean()
        endpoints = data.get("endpoints") or []
        unknown = [e for e in endpoints if e not in Endpoint.values]
        if unknown or not isinstance(endpoints, list):
            self.add_error(
                "endpoints",
                _("Use a list of: %(endpoints)s.") % {"endpoints": ", ".join(Endpoint.values)},
            )
        pricing = data.get("pricing")
        if pricing == CatalogModel.Pricing.PER_TOKEN:
            if data.get("input_price") is None or data.get("output_price") is None:
                self.add_error("input_price", _("Per-token models need input and output prices."))
        elif data.get("unit_price") is None and not data.get("tier_microcredits"):
            self.add_error("unit_price", _("Set the unit price."))
        if pricing == CatalogModel.Pricing.PER_SECOND and not data.get("max_seconds"):
            self.add_error("max_seconds", _("Per-second models need a maximum."))
        tiers = data.get("tier_microcredits") or {}
        if not isinstance(tiers, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in tiers.items()
        ):
            self.add_error(
                "tier_microcredits", _('Use {"1K": 4000000, …}: tier names to whole µcr ≥ 0.')
            )
        for name in ("input_price", "output_price", "unit_price"):
            if data.get(name) is not None and data[name] < 0:
                self.add_error(name, _("Prices cannot be negative."))
        return data

    def save(self, commit=True):
        obj = super().save(commit=False)
        data = self.cleaned_data
        obj.input_nanocredits_per_token = int((data.get("input_price") or 0) * 1000)
        obj.output_nanocredits_per_token = int((data.get("output_price") or 0) * 1000)
        obj.unit_microcredits = int((data.get("unit_price") or 0) * 10**6)
        if commit:
            obj.save()
        return obj


class CatalogChangesMixin:
    """Any catalog change makes every worker re-read the catalog on its next request."""

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        catalog.invalidate()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        catalog.invalidate()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        catalog.invalidate()


class AliasInline(admin.TabularInline):
    model = ModelAlias
    extra = 0


class FallbackInline(admin.TabularInline):
    model = FallbackTarget
    extra = 0
    ordering = ("position",)


@admin.register(CatalogModel)
class CatalogModelAdmin(CatalogChangesMixin, admin.ModelAdmin):
    form = CatalogModelForm
    list_display = ("model_id", "display_name", "family", "pricing", "active", "default_price")
    list_filter = ("family", "pricing", "active", "default_price")
    search_fields = ("model_id", "display_name", "aliases__alias")
    inlines = [AliasInline, FallbackInline]
    fieldsets = (
        (None, {"fields": ("model_id", "display_name", "family", "endpoints", "active")}),
        (
            gettext_lazy("Price"),
            {
                "fields": (
                    "pricing",
                    "input_price",
                    "output_price",
                    "unit_price",
                    "tier_microcredits",
                    "max_seconds",
                    "default_price",
                )
            },
        ),
    )


@admin.register(Intent)
class IntentAdmin(CatalogChangesMixin, admin.ModelAdmin):
    list_display = ("name", "description")
    filter_horizontal = ("candidates",)
