from decimal import Decimal

from django import forms
from django.conf import settings

from .money import parse_credits


class TopUpForm(forms.Form):
    amount_usd = forms.DecimalField(
        label="Amount (USD)",
        max_digits=8,
        decimal_places=2,
        help_text="100 credits per dollar.",
        widget=forms.NumberInput(attrs={"step": "0.01", "inputmode": "decimal"}),
    )

    def __init__(self, data=None, *args, **kwargs) -> None:
        # A preset button ("$25") submits its own name, and the browser sends the amount
        # input (usually empty) with it; the button the user clicked wins.
        if data is not None and data.get("preset_usd"):
            data = data.copy()
            data["amount_usd"] = data["preset_usd"]
        super().__init__(data, *args, **kwargs)

    def clean_amount_usd(self) -> Decimal:
        amount = self.cleaned_data["amount_usd"]
        low, high = settings.TOPUP_MIN_USD, settings.TOPUP_MAX_USD
        if amount < low:
            raise forms.ValidationError(f"The minimum top-up is ${low} ({low * 100} credits).")
        if amount > high:
            raise forms.ValidationError(f"The maximum top-up is ${high:,}.")
        return amount

    @property
    def amount_cents(self) -> int:
        return int(self.cleaned_data["amount_usd"] * 100)


class ThresholdForm(forms.Form):
    threshold = forms.CharField(
        label="Alert me below (credits)",
        required=False,
        help_text="One email when the balance drops below this. Leave empty to turn off.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )

    def clean_threshold(self) -> int | None:
        text = (self.cleaned_data["threshold"] or "").strip()
        if not text:
            return None
        try:
            value = parse_credits(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        if value < 0:
            raise forms.ValidationError("Enter zero or more credits.")
        return value


class StaffAdjustmentForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("grant", "Grant (adds credits)"), ("adjustment", "Correction (+ or −)")]
    )
    amount = forms.CharField(label="Credits", help_text="Negative removes credits.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=255)

    def clean_amount(self) -> int:
        try:
            return parse_credits(self.cleaned_data["amount"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


class StatementMonthForm(forms.Form):
    month = forms.RegexField(regex=r"^2\d{3}-(0[1-9]|1[0-2])$", required=False)
