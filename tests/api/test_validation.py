"""Validation errors name the offending fields, and a rejected update changes nothing."""

import pytest

from .envelope import assert_envelope


def test_name_too_long_names_the_field(api_client_for, user):
    client = api_client_for(user)
    before = client.get("/api/me").json()["name"]

    response = client.patch("/api/me", {"name": "x" * 151}, format="json")

    error = assert_envelope(response, 400, "validation_error")
    assert set(error["fields"]) == {"name"}
    assert error["fields"]["name"] and all(isinstance(m, str) for m in error["fields"]["name"])
    assert "150" in error["fields"]["name"][0]
    assert error["message"].startswith("name: ")
    assert client.get("/api/me").json()["name"] == before


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "name"), ({"name": None}, "name"), ({"name": ["a"]}, "name")],
)
def test_missing_or_wrong_type_names_the_field(api_client_for, user, body, field):
    response = api_client_for(user).patch("/api/me", body, format="json")
    error = assert_envelope(response, 400, "validation_error")
    assert field in error["fields"]


def test_body_that_is_not_an_object_is_a_validation_error(api_client_for, user):
    response = api_client_for(user).patch("/api/me", [1, 2], format="json")
    error = assert_envelope(response, 400, "validation_error")
    assert "non_field_errors" in error["fields"]


def test_valid_update_succeeds(api_client_for, user):
    client = api_client_for(user)
    response = client.patch("/api/me", {"name": "y" * 150}, format="json")
    assert response.status_code == 200
    assert client.get("/api/me").json()["name"] == "y" * 150
