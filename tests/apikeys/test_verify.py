"""``POST /internal/v1/keys/verify``: the gateway's question for every request. Every
error type of the contract is produced here, through the HTTP API."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apikeys import services
from apikeys.keyformat import generate_key
from apikeys.models import ApiKey, KeyMonthSpend, OwnerRateLimit
from billing import catalog
from billing.models import CatalogModel

from .factories import CREDIT, assert_envelope, fund, join, key_make, personal, team

pytestmark = pytest.mark.django_db

URL = "/internal/v1/keys/verify"
ANSWER_FIELDS = {
    "key",
    "owner",
    "user_id",
    "wallet",
    "spending_limit_microcredits",
    "period",
    "period_spend_microcredits",
    "period_reserved_microcredits",
    "reservation_id",
    "rate_limit",
    "allowed_models",
    "model",
    "cache_ttl_seconds",
}


def verify(internal, **body):
    return internal.post(URL, body, format="json")


def test_a_good_personal_key_gets_the_documented_answer(internal, owner, funded_key, settings):
    key, plaintext = funded_key
    response = verify(internal, key=plaintext)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == ANSWER_FIELDS
    assert body["key"] == {"id": key.public_id, "name": "prod-eu", "prefix": key.masked}
    assert body["owner"] == {"type": "user", "id": owner.public_id}
    assert body["user_id"] == owner.public_id
    wallet = body["wallet"]
    assert set(wallet) == {"id", "balance_microcredits", "available_microcredits"}
    assert wallet["balance_microcredits"] == wallet["available_microcredits"] == 1000 * CREDIT
    assert body["spending_limit_microcredits"] is None
    assert body["period"] == timezone.now().strftime("%Y-%m")
    assert body["period_spend_microcredits"] == 0
    assert body["rate_limit"] == settings.RATE_LIMIT_DEFAULT
    assert body["allowed_models"] is None
    assert body["model"] is None
    assert body["cache_ttl_seconds"] == settings.VERIFY_GATEWAY_CACHE_SECONDS


def test_with_a_model_the_answer_names_the_canonical_model(internal, funded_key):
    _key, plaintext = funded_key
    response = verify(internal, key=plaintext, model="gpt-5.5", endpoint="chat.completions")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == ANSWER_FIELDS | {"fallbacks"}
    assert body["model"] == "gpt-5.5"
    assert body["fallbacks"][0] == {
        "provider": "openai",
        "region": "us-east",
        "upstream_model": "gpt-5.5",
    }


def test_a_legacy_anthropic_id_maps_to_its_newest_equivalent(internal, funded_key):
    _key, plaintext = funded_key
    response = verify(
        internal, key=plaintext, model="claude-3-5-sonnet-20241022", endpoint="messages"
    )
    assert response.status_code == 200, response.content
    assert response.json()["model"] == "claude-sonnet-4-6"


def test_an_organization_key_reports_the_organization_as_owner(internal, owner):
    org = team(owner)
    developer = join(org, "developer")
    fund(org, 500)
    _key, plaintext = key_make(org=org, actor=developer, limit_credits=100)
    body = verify(internal, key=plaintext).json()
    assert body["owner"] == {"type": "organization", "id": org.public_id}
    assert body["user_id"] == developer.public_id  # the key's creator
    assert body["spending_limit_microcredits"] == 100 * CREDIT
    assert body["wallet"]["balance_microcredits"] == 500 * CREDIT


def test_an_owner_rate_limit_override_is_reported(internal, owner, funded_key):
    OwnerRateLimit.objects.create(
        organization=personal(owner), requests_per_minute=60, tokens_per_minute=1000
    )
    _key, plaintext = funded_key
    body = verify(internal, key=plaintext).json()
    assert body["rate_limit"] == {"requests_per_minute": 60, "tokens_per_minute": 1000}


# --- 401 ---------------------------------------------------------------------------------


def test_an_unknown_but_well_formed_key_is_invalid(internal):
    assert_envelope(verify(internal, key=generate_key()), 401, "invalid_api_key")


def test_a_mistyped_key_is_invalid(internal, funded_key):
    _key, plaintext = funded_key
    typo = plaintext[:10] + ("A" if plaintext[10] != "A" else "B") + plaintext[11:]
    assert_envelope(verify(internal, key=typo), 401, "invalid_api_key")


def test_a_revoked_key(internal, owner, funded_key):
    key, plaintext = funded_key
    services.apikey_revoke(key=key, actor=owner)
    assert_envelope(verify(internal, key=plaintext), 401, "key_revoked")


def test_an_expired_key(internal, owner):
    org = personal(owner)
    fund(org, 1000)
    _key, plaintext = key_make(org=org, actor=owner, expires_at=timezone.now() + timedelta(hours=1))
    assert verify(internal, key=plaintext).status_code == 200
    later = timezone.now().timestamp() + 2 * 3600
    with mock.patch("apikeys.verification.time") as clock:
        clock.time.return_value = later
        assert_envelope(verify(internal, key=plaintext), 401, "key_expired")


def test_a_disabled_key(internal, owner, funded_key):
    key, plaintext = funded_key
    with transaction.atomic():
        services.apikey_auto_disable_in_transaction(key_id=key.pk, reason="spending_limit_reached")
    assert_envelope(verify(internal, key=plaintext), 401, "key_disabled")


def test_a_rotated_secret_works_during_its_grace_and_dies_after(internal, owner, funded_key):
    key, old = funded_key
    key, new = services.apikey_rotate(key=key, actor=owner, grace_seconds=600)
    assert new != old
    assert verify(internal, key=new).status_code == 200
    during = verify(internal, key=old)
    assert during.status_code == 200, during.content
    assert during.json()["key"]["id"] == key.public_id

    after_grace = key.previous_valid_until.timestamp() + 1
    with mock.patch("apikeys.verification.time") as clock:
        clock.time.return_value = after_grace
        assert_envelope(verify(internal, key=old), 401, "key_revoked")
        assert verify(internal, key=new).status_code == 200


def test_rotation_without_grace_kills_the_old_secret_at_once(internal, owner, funded_key):
    key, old = funded_key
    services.apikey_rotate(key=key, actor=owner, grace_seconds=0)
    assert_envelope(verify(internal, key=old), 401, "invalid_api_key")


# --- 402 ---------------------------------------------------------------------------------


def test_spend_at_the_limit_is_refused(internal, owner):
    org = personal(owner)
    fund(org, 1000)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=10)
    period = timezone.now().strftime("%Y-%m")
    KeyMonthSpend.objects.create(key=key, period=period, spend_microcredits=10 * CREDIT - 1)
    assert verify(internal, key=plaintext).status_code == 200
    KeyMonthSpend.objects.filter(key=key).update(spend_microcredits=10 * CREDIT)
    cache.clear()  # the spend changed behind the services' back
    error = assert_envelope(verify(internal, key=plaintext), 402, "spending_limit_exceeded")
    assert error["spending_limit_microcredits"] == 10 * CREDIT


def test_chat_needs_200_credits_available(internal, owner):
    org = personal(owner)
    fund(org, 199)
    _key, plaintext = key_make(org=org, actor=owner)
    error = assert_envelope(
        verify(internal, key=plaintext, model="gpt-5.5", endpoint="chat.completions"),
        402,
        "insufficient_credits",
    )
    assert error["needed_microcredits"] == 200 * CREDIT
    assert error["available_microcredits"] == 199 * CREDIT
    # With no model named, a token endpoint still needs the minimum.
    assert_envelope(
        verify(internal, key=plaintext, endpoint="chat.completions"), 402, "insufficient_credits"
    )


def test_an_image_call_needs_price_times_n(internal, owner):
    org = personal(owner)
    fund(org, 20)  # gpt-image-2 costs 4 credits per 1K image
    _key, plaintext = key_make(org=org, actor=owner)
    ok = verify(internal, key=plaintext, model="gpt-image-2", endpoint="images", n=5)
    assert ok.status_code == 200, ok.content
    error = assert_envelope(
        verify(internal, key=plaintext, model="gpt-image-2", endpoint="images", n=6),
        402,
        "insufficient_credits",
    )
    assert error["needed_microcredits"] == 24 * CREDIT
    error = assert_envelope(
        verify(internal, key=plaintext, model="gpt-image-2", endpoint="images", n=2, tier="4K"),
        402,
        "insufficient_credits",
    )
    assert error["needed_microcredits"] == 32 * CREDIT


# --- 400 / 403 ---------------------------------------------------------------------------


def test_an_unknown_model_lists_the_available_ones(internal, funded_key):
    _key, plaintext = funded_key
    error = assert_envelope(
        verify(internal, key=plaintext, model="gpt-9-imaginary"), 400, "unknown_model"
    )
    available = error["available_models"]
    assert "gpt-5.5" in available and "claude-sonnet-4-6" in available
    assert available == sorted(available)
    assert "gpt-9-imaginary" not in available


def test_an_inactive_model_is_unknown(internal, funded_key):
    CatalogModel.objects.filter(model_id="glm-5").update(active=False)
    catalog.invalidate()
    _key, plaintext = funded_key
    error = assert_envelope(verify(internal, key=plaintext, model="glm-5"), 400, "unknown_model")
    assert "glm-5" not in error["available_models"]


def test_a_model_on_the_wrong_endpoint(internal, funded_key):
    _key, plaintext = funded_key
    error = assert_envelope(
        verify(internal, key=plaintext, model="claude-sonnet-4-6", endpoint="chat.completions"),
        400,
        "wrong_endpoint",
    )
    assert error["endpoints"] == ["messages"]


def test_a_model_the_key_may_not_call(internal, owner):
    org = personal(owner)
    fund(org, 1000)
    _key, plaintext = key_make(
        org=org, actor=owner, allowed_models=["claude-3-5-sonnet-20241022", "gpt-5.5"]
    )
    ok = verify(internal, key=plaintext, model="claude-sonnet-4-6", endpoint="messages")
    assert ok.status_code == 200, ok.content
    assert ok.json()["allowed_models"] == ["claude-sonnet-4-6", "gpt-5.5"]
    error = assert_envelope(
        verify(internal, key=plaintext, model="gpt-5.4-mini", endpoint="chat.completions"),
        403,
        "model_not_allowed",
    )
    assert error["allowed_models"] == ["claude-sonnet-4-6", "gpt-5.5"]


# --- malformed requests --------------------------------------------------------------------


def test_malformed_json_is_a_clear_400(internal):
    response = internal.generic("POST", URL, '{"key": "ck_', content_type="application/json")
    assert_envelope(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"model": "gpt-5.5"},
        {"key": None},
        {"key": "ck_x", "endpoint": "teleport"},
        {"key": "ck_x", "model": None},
        {"key": "ck_x", "n": 11},
    ],
)
def test_a_missing_or_wrong_field_is_a_validation_error(internal, body):
    error = assert_envelope(internal.post(URL, body, format="json"), 400, "validation_error")
    assert error["fields"]


def test_a_number_for_a_key_is_just_an_invalid_key(internal):
    assert_envelope(internal.post(URL, {"key": 12345}, format="json"), 401, "invalid_api_key")


def test_a_json_list_is_refused(internal):
    assert_envelope(internal.post(URL, ["ck_x"], format="json"), 400)


def test_last_used_is_written_at_most_once_a_minute(internal, funded_key):
    key, plaintext = funded_key
    assert verify(internal, key=plaintext).status_code == 200
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - timedelta(hours=1))
    assert verify(internal, key=plaintext).status_code == 200
    # Within the minute nothing is written again.
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first - timedelta(hours=1)
