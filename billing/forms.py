from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .money import credits_input, credits_text


class CreditsField(forms.CharField):
    """An amount of credits: whole or with up to 6 decimals, cleaned to integer µcr by the
    same ``credits_input`` the browser APIs use. Empty is ``None`` when not required.

    ``min_microcredits``: 1 refuses zero and below (a cap), 0 refuses negatives (a
    threshold), ``None`` takes any sign (a staff correction). An initial value in µcr is
    shown exactly (``12.5``), so saving an untouched form never changes the amount.
    """

    def __init__(self, *, min_microcredits: int | None = None, **kwargs) -> None:
        self.min_microcredits = min_microcredits
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return credits_text(value)
        return super().prepare_value(value)

    def to_python(self, value) -> int | None:
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        try:
            return credits_input(text, min_microcredits=self.min_microcredits)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="invalid") from None

    def has_changed(self, initial, data) -> bool:
        return self.prepare_value(initial) != (data or "")


class TopUpForm(forms.Form):
    amount_usd = forms.DecimalField(
        label=gettext_lazy("Amount (USD)"),
        max_digits=8,
        decimal_places=2,
        help_text=gettext_lazy("100 credits per dollar."),
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
            raise forms.ValidationError(
                _("The minimum top-up is $%(usd)s (%(credits)s credits).")
                % {"usd": low, "credits": low * 100}
            )
        if amount > high:
            raise forms.ValidationError(_("The maximum top-up is $%(usd)s.") % {"usd": f"{high:,}"})
        return amount

    @property
    def amount_cents(self) -> int:
        return int(self.cleaned_data["amount_usd"] * 100)


class ThresholdForm(forms.Form):
    threshold = CreditsField(
        label=gettext_lazy("Alert me below (credits)"),
        required=False,
        min_microcredits=0,
        help_text=gettext_lazy(
            "One email when the balance drops below this. Leave empty to turn off."
        ),
    )


class StaffAdjustmentForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[
            ("grant", gettext_lazy("Grant (adds credits)")),
            ("adjustment", gettext_lazy("Correction (+ or −)")),
        ]
    )
    amount = CreditsField(
        label=gettext_lazy("Credits"), help_text=gettext_lazy("Negative removes credits.")
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=255)


class StatementMonthForm(forms.Form):
    month = forms.RegexField(regex=r"^\d{4}-(0[1-9]|1[0-2])$", required=False)
