from zoneinfo import available_timezones

from allauth.account import forms as allauth_forms
from django import forms
from django.conf import settings
from django.contrib.auth import authenticate
from django.utils.translation import gettext_lazy

from sso import selectors as sso_selectors

from .models import User


class AccountDeleteForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirm = forms.CharField(
        label=gettext_lazy('Type "delete my account" to confirm'),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if authenticate(username=self.user.email, password=password) is None:
            raise forms.ValidationError(gettext_lazy("That is not your current password."))
        return password

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip().lower()
        if value != "delete my account":
            raise forms.ValidationError(gettext_lazy('Type exactly "delete my account".'))
        return value


def _zone_choices() -> list[tuple[str, str]]:
    return [(z, z.replace("_", " ")) for z in sorted(available_timezones())]


def _language_choices() -> list[tuple[str, str]]:
    # Each language in its own name: a reader who cannot read the current one finds theirs.
    return [("", gettext_lazy("Automatic (the browser's language)")), *settings.LANGUAGES]


class ProfileForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Display name"), max_length=150, required=False)
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        choices=_language_choices,
        required=False,
        help_text=gettext_lazy("The console and the emails we send you."),
    )
    timezone = forms.ChoiceField(
        label=gettext_lazy("Timezone"),
        choices=_zone_choices,
        initial="UTC",
        required=False,  # left out: unchanged
        help_text=gettext_lazy("Your days on the usage page and in the usage API."),
    )


class ResetPasswordKeyForm(allauth_forms.ResetPasswordKeyForm):
    """Setting a new password from an emailed link: refused for a member bound by SSO
    enforcement (the link may predate it). The key already identifies the user, so saying
    so reveals nothing."""

    def clean(self):
        cleaned_data = super().clean()
        refusal = sso_selectors.password_login_refusal(self.user)
        if refusal is not None:
            raise forms.ValidationError(refusal.message, code=refusal.code)
        return cleaned_data
