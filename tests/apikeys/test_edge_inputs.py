"""Inputs at the edges: huge numbers, odd time zones, unknown tiers, inactive keys, a
deleted account. Each is a clear error (or the right bookkeeping), never a 500."""

from datetime import UTC, timedelta, timezone

import pytest
from django.utils import timezone as dj_timezone

from accounts.services import user_delete
from apikeys.models import ApiKey, KeyMonthSpend
from orgs.models import AuditEvent

from .factories import assert_envelope, event, fund, key_make, personal, rid

pytestmark = pytest.mark.django_db


def test_spend_counts_in_the_utc_month_whatever_offset_the_gateway_sends(internal, funded_key):
    key, _plaintext = funded_key
    month_start = dj_timezone.now().replace(day=1, hour=0, minute=30, second=0, microsecond=0)
    # 00:30 UTC on the 1st, written as 12:30 on the last day of the previous month at -12:00.
    local = month_start.astimezone(timezone(timedelta(hours=-12)))
    assert local.month != month_start.month or local.day != month_start.day
    body = {"events": [event(key, occurred_at=local.isoformat(), input_tokens=1000)]}
    response = internal.post("/internal/v1/usage", body, format="json")
    assert response.status_code == 200 and response.json()["accepted"] == 1
    periods = list(KeyMonthSpend.objects.filter(key=key).values_list("period", flat=True))
    assert periods == [month_start.astimezone(UTC).strftime("%Y-%m")]


def test_an_absurd_unit_count_is_rejected_alone(internal, funded_key):
    key, _plaintext = funded_key
    good = event(key, input_tokens=100)
    huge = event(key, endpoint="images", model="nano_banana", images=2**40)
    response = internal.post("/internal/v1/usage", {"events": [good, huge]}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1]
    assert body["rejected"][0]["error"]["type"] == "invalid_event"


def test_verify_with_an_unknown_image_tier_is_a_400(internal, funded_key):
    _key, plaintext = funded_key
    response = internal.post(
        "/internal/v1/keys/verify",
        {"key": plaintext, "model": "gpt-image-2", "endpoint": "images", "tier": "8K"},
        format="json",
    )
    assert_envelope(response, 400, "invalid_request")


@pytest.mark.parametrize("limit", [10**13, 10**30])
def test_a_huge_spending_limit_is_a_field_error(api_client_for, user, limit):
    response = api_client_for(user).post(
        "/api/api-keys", {"name": "big", "spendingLimit": limit}, format="json"
    )
    error = assert_envelope(response, 400, "validation_error")
    assert "spendingLimit" in error["fields"]
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("text", ["1e999999999", "100000000000000", "9" * 40])
def test_a_huge_limit_typed_in_the_form_is_a_field_error(client_for, user, text):
    response = client_for(user).post(
        "/manage-api-keys/new", {"name": "big", "spending_limit": text}
    )
    assert response.status_code == 400
    assert "spending_limit" in response.context["form"].errors
    assert not ApiKey.objects.exists()


def test_a_huge_hold_is_a_field_error(internal, funded_key):
    key, _plaintext = funded_key
    response = internal.post(
        "/internal/v1/holds",
        {"key_id": key.public_id, "amount_microcredits": 10**30, "reference": "job"},
        format="json",
    )
    assert_envelope(response, 400, "validation_error")


def test_a_disabled_or_expired_key_cannot_place_holds(internal, owner):
    org = personal(owner)
    fund(org, 100)
    disabled, _ = key_make(org=org, actor=owner, name="off")
    ApiKey.objects.filter(pk=disabled.pk).update(status=ApiKey.Status.DISABLED)
    expired, _ = key_make(org=org, actor=owner, name="old")
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=dj_timezone.now() - timedelta(minutes=1))
    for key, error_type in ((disabled, "key_disabled"), (expired, "key_expired")):
        response = internal.post(
            "/internal/v1/holds",
            {"key_id": key.public_id, "amount_microcredits": 1_000_000, "reference": rid()},
            format="json",
        )
        assert_envelope(response, 401, error_type)


def test_deleting_an_account_revokes_its_keys_at_once(
    internal, owner, django_capture_on_commit_callbacks
):
    org = personal(owner)
    fund(org, 500)
    key, plaintext = key_make(org=org, actor=owner)
    assert (
        internal.post("/internal/v1/keys/verify", {"key": plaintext}, format="json").status_code
        == 200
    )
    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=owner, actor=owner)
    response = internal.post("/internal/v1/keys/verify", {"key": plaintext}, format="json")
    assert_envelope(response, 401, "key_revoked")
    assert ApiKey.objects.get(pk=key.pk).status == ApiKey.Status.REVOKED
    actions = set(AuditEvent.objects.filter(organization=org).values_list("action", flat=True))
    assert {"key.revoked", "account.deleted"} <= actions


def test_statement_month_outside_any_sane_year_is_a_friendly_4xx(client_for, user):
    """No year 0 exists (400); years 1 and 9999 are real months outside the account (404)."""
    expected = {"0000-01": 400, "0001-01": 404, "9999-12": 404}
    for month, status in expected.items():
        for path in ("/billing/statement", "/billing/statement.csv"):
            assert client_for(user).get(f"{path}?month={month}").status_code == status
