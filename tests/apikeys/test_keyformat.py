"""The ``ck_`` format: 32 random base62 characters and a CRC32 checksum, so a mistyped key
is refused before any database query; only the SHA-256 is stored."""

import hashlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apikeys import keyformat, verification
from apikeys.models import ApiKey
from hypereal_site.api.errors import ApplicationError
from hypereal_site.ids import BASE62

from .factories import key_make, personal

KEY_RE = re.compile(r"^ck_[0-9A-Za-z]{32}[0-9A-Za-z]{6}$")


def test_generated_keys_have_the_documented_shape_and_checksum():
    keys = {keyformat.generate_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert KEY_RE.match(key), key
        assert keyformat.is_well_formed(key)
        assert keyformat.checksum(key[3:35]) == key[35:]


@st.composite
def typo(draw):
    """A valid key and a one-character mistake in it: a substitution, a dropped or an
    inserted character, or two neighbours swapped."""
    key = draw(st.sampled_from([keyformat.generate_key() for _ in range(20)]))
    pos = draw(st.integers(min_value=3, max_value=len(key) - 1))
    kind = draw(st.sampled_from(["substitute", "drop", "insert", "swap"]))
    char = draw(st.sampled_from(BASE62))
    if kind == "substitute":
        mutated = key[:pos] + char + key[pos + 1 :]
    elif kind == "drop":
        mutated = key[:pos] + key[pos + 1 :]
    elif kind == "insert":
        mutated = key[:pos] + char + key[pos:]
    else:
        pos = min(pos, len(key) - 2)
        mutated = key[:pos] + key[pos + 1] + key[pos] + key[pos + 2 :]
    return key, mutated


@settings(max_examples=400, deadline=None)
@given(typo())
def test_a_one_character_typo_fails_the_checksum(pair):
    key, mutated = pair
    if mutated != key:  # a substitution by the same character, or swapping equal neighbours
        assert not keyformat.is_well_formed(mutated)


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(typo())
def test_a_mistyped_key_is_refused_without_a_database_query(django_assert_num_queries, pair):
    key, mutated = pair
    if mutated == key:
        return
    with django_assert_num_queries(0), pytest.raises(ApplicationError) as refused:
        verification.verify(key=mutated, model="gpt-5.5")
    assert (refused.value.status, refused.value.type) == (401, "invalid_api_key")


@pytest.mark.parametrize(
    "value", ["", "ck_", "sk-abc", "ck_" + "a" * 38 + "\n", "CK_" + "a" * 38, None, 42]
)
def test_garbage_is_not_well_formed(value):
    assert not keyformat.is_well_formed(value)


@pytest.mark.django_db
def test_the_key_is_stored_only_as_its_sha256(user):
    key, plaintext = key_make(org=personal(user), actor=user)
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    assert row["secret_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    for column, value in row.items():
        assert plaintext not in str(value), column
        assert plaintext[3:35] not in str(value), column  # nor its random part
    assert row["masked"] == f"ck_{plaintext[3:7]}…{plaintext[-4:]}"
    assert keyformat.masked(plaintext) == row["masked"]


def test_service_tokens_are_not_customer_keys():
    token = keyformat.generate_service_token()
    assert keyformat.is_service_token(token) and token.startswith("svc_")
    assert not keyformat.is_well_formed(token)
    assert not keyformat.is_service_token(keyformat.generate_key())
