from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from . import events, services


class EndpointForm(forms.Form):
    url = forms.CharField(
        label=_("URL"),
        max_length=services.URL_MAX_LENGTH,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/webhooks/hypereal"}),
        help_text=_("https:// and a public address. It must answer 2xx within 15 seconds."),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Events"),
        # Lazy: each label in the language of the page that shows it (the event type's
        # name is an identifier, isolated left to right: LRI … PDI).
        choices=[
            (name, format_lazy("\u2066{}\u2069 — {}", name, label))
            for name, label in events.EVENT_TYPES.items()
        ],
        widget=forms.CheckboxSelectMultiple,
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)


class RotateForm(forms.Form):
    overlap_hours = forms.IntegerField(
        label=_("Keep signing with the old secret for (hours)"),
        min_value=0,
        max_value=services.ROTATION_OVERLAP_MAX_SECONDS // 3600,
        initial=24,
        help_text=_("During the overlap each message carries both signatures."),
    )
