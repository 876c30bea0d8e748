from django import forms
from django.utils.translation import gettext_lazy as _

from billing.forms import CreditsField
from billing.money import credits_text


class KeyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, help_text=_("e.g. prod-eu"))
    # µcr once cleaned; who may raise or remove it is the service's rule (KEYS_CAP_RAISE).
    spending_limit = CreditsField(
        label=_("Monthly spending limit (credits)"),
        required=False,
        min_microcredits=1,
        help_text=_("100 credits = 1 USD. Emails at 80% and 100%. Leave empty for no limit."),
    )
    auto_disable = forms.BooleanField(
        label=_("Disable the key when it reaches the limit"), required=False
    )
    expires_at = forms.DateTimeField(
        label=_("Expires (UTC)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )
    allowed_models = forms.CharField(
        label=_("Allowed models"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Comma or newline separated model ids. Empty: every model."),
    )

    def __init__(self, *args, may_raise_caps: bool = True, default_limit: int | None = None, **kw):
        """``may_raise_caps`` False (a developer): say what the limit may be, since leaving
        it empty or going above the default is refused (``apikeys.services.CapDenied``)."""
        super().__init__(*args, **kw)
        if not may_raise_caps:
            self.fields["spending_limit"].help_text = (
                _(
                    "100 credits = 1 USD. At most the default of %(default)s credits; "
                    "only an owner or an admin can raise or remove a limit."
                )
                % {"default": credits_text(default_limit)}
                if default_limit
                else _(
                    "100 credits = 1 USD. You may lower a limit; only an owner or an admin "
                    "can raise or remove one."
                )
            )

    def clean_allowed_models(self) -> list[str]:
        text = self.cleaned_data["allowed_models"] or ""
        return [m.strip() for m in text.replace(",", "\n").splitlines() if m.strip()]


class RotateForm(forms.Form):
    grace_hours = forms.IntegerField(
        label=_("Keep the old secret working for (hours)"),
        min_value=0,
        max_value=24,
        initial=0,
        help_text=_("0 to 24. Lets deployed clients switch before the old key dies."),
    )


class DefaultKeyLimitForm(forms.Form):
    default_key_spending_limit = CreditsField(
        label=_("Default monthly limit for new keys (credits)"),
        required=False,
        min_microcredits=1,
        help_text=_(
            "New keys start at this limit; developers may not go above it. "
            "Leave empty for no default."
        ),
    )
