"""Serializer fields for money in browser APIs."""

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .money import credits_input, credits_output


@extend_schema_field(
    {
        "oneOf": [{"type": "number"}, {"type": "string", "pattern": r"^-?[0-9,]*\.?[0-9]*$"}],
        "description": "Credits: whole or up to 6 decimals (100 credits = 1 USD).",
    }
)
class CreditsInputField(serializers.Field):
    """An amount of credits in an API body: a JSON number or a numeric string, whole or
    with up to 6 decimals, read by the same ``credits_input`` as ``billing.forms.
    CreditsField`` so that a form and the API accept and refuse exactly the same values.
    Internally integer µcr; rendered back as credits (an int when whole)."""

    default_error_messages = {"invalid": gettext_lazy("Enter a number of credits.")}

    def __init__(self, *, min_microcredits: int | None = None, **kwargs) -> None:
        self.min_microcredits = min_microcredits
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        try:
            return credits_input(data, min_microcredits=self.min_microcredits)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc), code="invalid") from None

    def to_representation(self, value):
        return credits_output(value)
