from django import forms
from django.core.exceptions import ValidationError


def apply_validation_error(
    form: forms.Form, exc: ValidationError, aliases: dict[str, str] | None = None
) -> None:
    """Put a service's ValidationError on the form, field by field.

    ``aliases`` maps a service's field names (the API's ``spendingLimit``) to the form's
    (``spending_limit``); errors on fields the form does not have become form errors.
    """
    aliases = aliases or {}
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            field = aliases.get(field, field)
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
