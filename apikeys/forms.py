from django import forms

from billing.money import parse_credits


class KeyForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="e.g. prod-eu")
    spending_limit = forms.CharField(
        label="Monthly spending limit (credits)",
        required=False,
        help_text="100 credits = 1 USD. Emails at 80% and 100%. Leave empty for no limit.",
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    auto_disable = forms.BooleanField(
        label="Disable the key when it reaches the limit", required=False
    )
    expires_at = forms.DateTimeField(
        label="Expires (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )
    allowed_models = forms.CharField(
        label="Allowed models",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Comma or newline separated model ids. Empty: every model.",
    )

    def clean_spending_limit(self) -> int | None:
        text = (self.cleaned_data["spending_limit"] or "").strip()
        if not text:
            return None
        try:
            value = parse_credits(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        if value <= 0:
            raise forms.ValidationError("Enter more than zero credits, or leave it empty.")
        return value

    def clean_allowed_models(self) -> list[str]:
        text = self.cleaned_data["allowed_models"] or ""
        return [m.strip() for m in text.replace(",", "\n").splitlines() if m.strip()]


class RotateForm(forms.Form):
    grace_hours = forms.IntegerField(
        label="Keep the old secret working for (hours)",
        min_value=0,
        max_value=24,
        initial=0,
        help_text="0 to 24. Lets deployed clients switch before the old key dies.",
    )
