from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from .audit import FILTER_EARLIEST, FILTER_LATEST
from .permissions import Role

_AUDIT_DATE_RANGE = [MinValueValidator(FILTER_EARLIEST), MaxValueValidator(FILTER_LATEST)]


class OrgCreateForm(forms.Form):
    name = forms.CharField(label=_("Organization name"), max_length=100)
    slug = forms.CharField(
        label=_("Slug"),
        max_length=48,
        required=False,
        help_text=_(
            "Lowercase letters, digits and hyphens. Leave empty to derive it from the name."
        ),
    )


class OrgUpdateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    slug = forms.CharField(
        label=_("Slug"), max_length=48, help_text=_("Lowercase letters, digits and hyphens.")
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email address"))
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.DEVELOPER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class TransferForm(forms.Form):
    member = forms.ChoiceField(label=_("New owner"))

    def __init__(self, *args, members=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["member"].choices = [(m.public_id, m.user.email) for m in members]


class DeleteOrgForm(forms.Form):
    confirm_slug = forms.CharField(label=_("Type the organization's slug to confirm"))


class AuditFilterForm(forms.Form):
    action = forms.CharField(label=_("Action"), required=False, max_length=64)
    actor = forms.CharField(label=_("Actor email"), required=False, max_length=254)
    since = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=_AUDIT_DATE_RANGE,
    )
    until = forms.DateField(
        label=_("To (inclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=_AUDIT_DATE_RANGE,
    )

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", _("The end date is before the start date."))
        return data
