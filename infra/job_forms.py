"""The "Run a test job" form of a deployment's Jobs page."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from hypereal_site.api.errors import ApplicationError
from hypereal_site.api.jsonbody import JSONBodyError, parse_json

from .jobs import check_input
from .models import GpuJob

EXAMPLE_INPUT = '{\n  "prompt": "a cinematic portrait of an astronaut",\n  "seed": 42\n}'


class TestJobForm(forms.Form):
    input = forms.CharField(
        label=_("Input (JSON object)"),
        widget=forms.Textarea(
            attrs={"rows": 6, "spellcheck": "false", "class": "code-input", "dir": "ltr"}
        ),
        initial=EXAMPLE_INPUT,
        help_text=_('Sent to your worker as {"input": …}.'),
    )

    def clean_input(self) -> dict:
        text = self.cleaned_data["input"]
        if len(text.encode()) > settings.GPU_JOB_INPUT_MAX_BYTES:
            raise forms.ValidationError(
                _("The input is larger than %(limit)d bytes."),
                params={"limit": settings.GPU_JOB_INPUT_MAX_BYTES},
            )
        try:
            value = parse_json(text)
        except (JSONBodyError, ValueError) as exc:
            raise forms.ValidationError(
                _("This is not valid JSON: %(error)s"), params={"error": exc}
            ) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The input must be a JSON object ({…})."))
        try:
            return check_input(value)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message) from None


class JobFilterForm(forms.Form):
    STATUS_CHOICES = [("", _("All statuses"))]

    status = forms.ChoiceField(label=_("Status"), required=False)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = self.STATUS_CHOICES + list(GpuJob.Status.choices)
