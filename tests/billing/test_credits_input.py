"""One credits input: forms and browser APIs accept and refuse exactly the same amounts
(whole credits or up to 6 decimals, more than zero for a cap, at most a billion)."""

import pytest
from rest_framework.test import APIClient

from apikeys.forms import DefaultKeyLimitForm, KeyForm
from apikeys.models import ApiKey
from billing.forms import CreditsField, StaffAdjustmentForm, ThresholdForm
from billing.serializers import CreditsInputField
from tests.apikeys.factories import assert_envelope, personal

#: (what is typed or sent, µcr or the error message)
CAP_VALUES = [
    ("500", 500_000_000),
    ("12.5", 12_500_000),
    ("0.000001", 1),
    ("1,000", 1_000_000_000),
    (" 7 ", 7_000_000),
    ("1000000000", 1_000_000_000_000_000),
    ("0", "Enter more than zero credits."),
    ("-3", "Enter more than zero credits."),
    ("0.0000001", "Use at most 6 decimal places."),
    ("1000000000.01", "Enter at most 1,000,000,000 credits."),
    ("abc", "Enter a number of credits."),
    ("NaN", "Enter a number of credits."),
    ("1e3", 1_000_000_000),
]


def form_result(text: str):
    form = KeyForm({"name": "k", "spending_limit": text})
    if form.is_valid():
        return form.cleaned_data["spending_limit"]
    return form.errors["spending_limit"][0]


def field_result(value):
    field = CreditsInputField(min_microcredits=1)
    try:
        return field.run_validation(value)
    except Exception as exc:  # DRF ValidationError
        return str(exc.detail[0])


@pytest.mark.parametrize(("text", "expected"), CAP_VALUES)
def test_the_form_and_the_api_field_agree(text, expected):
    assert form_result(text) == expected
    assert field_result(text) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [(12.5, 12_500_000), (500, 500_000_000), (0.1, 100_000), (True, "Enter a number of credits.")],
)
def test_json_numbers_read_as_typed(number, expected):
    assert field_result(number) == expected
    if not isinstance(number, bool):
        assert form_result(str(number)) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "expected"), CAP_VALUES)
def test_the_key_api_and_the_key_form_give_the_same_answer(user, text, expected):
    owner = user
    client = APIClient()
    client.force_login(owner)
    response = client.post("/api/api-keys", {"name": "k", "spendingLimit": text}, format="json")
    page = client.post("/manage-api-keys/new", {"name": "k2", "spending_limit": text})
    if isinstance(expected, int):
        assert response.status_code == 201, response.content
        assert response.json()["spendingLimitMicrocredits"] == expected
        assert page.status_code == 201
        assert ApiKey.objects.get(name="k2").spending_limit_microcredits == expected
    else:
        error = assert_envelope(response, 400, "validation_error")
        assert error["fields"] == {"spendingLimit": [expected]}
        assert page.status_code == 400
        assert expected in page.context["form"]["spending_limit"].errors
        assert not ApiKey.objects.filter(organization=personal(owner)).exists()


def test_every_form_that_takes_credits_uses_the_one_field():
    assert isinstance(KeyForm.base_fields["spending_limit"], CreditsField)
    assert isinstance(ThresholdForm.base_fields["threshold"], CreditsField)
    assert isinstance(StaffAdjustmentForm.base_fields["amount"], CreditsField)
    assert isinstance(DefaultKeyLimitForm.base_fields["default_key_spending_limit"], CreditsField)


def test_a_staff_correction_may_be_negative_and_a_threshold_zero():
    adjust = StaffAdjustmentForm({"kind": "adjustment", "amount": "-2.5", "reason": "typo"})
    assert adjust.is_valid() and adjust.cleaned_data["amount"] == -2_500_000
    threshold = ThresholdForm({"threshold": "0"})
    assert threshold.is_valid() and threshold.cleaned_data["threshold"] == 0
    negative = ThresholdForm({"threshold": "-1"})
    assert negative.errors["threshold"] == ["Enter zero or more credits."]
