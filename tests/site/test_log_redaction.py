"""Secrets never reach the logs: a ck_ key in a query string, an invitation token in a
path and a svc_ token are masked in every line, whatever logger wrote it."""

import json
import logging

import pytest
from django.test import Client

from apikeys.services import apikey_create, apikey_revoke
from orgs.services import personal_org_get_or_create
from tests.logcapture import capture_json_logs

pytestmark = pytest.mark.django_db


def test_a_refused_key_in_the_query_string_is_not_logged(user):
    key, plaintext = apikey_create(
        organization=personal_org_get_or_create(user=user), actor=user, name="leaky"
    )
    apikey_revoke(key=key, actor=user)
    with capture_json_logs() as lines:
        response = Client().get(f"/v1/key?key={plaintext}")
    assert response.status_code == 401
    assert lines, "Django logs a refused request"
    text = json.dumps(lines)
    assert plaintext not in text
    assert [line["request"] for line in lines if "request" in line] == ["GET /v1/key"]


def test_keys_and_tokens_in_any_message_are_masked(caplog):
    key = "ck_" + "A1b2" * 9 + "zz"
    with capture_json_logs() as lines:
        logging.getLogger("hypereal.test").warning("gateway sent %s with svc_%s", key, "x" * 40)
    text = json.dumps(lines)
    assert key not in text and "x" * 40 not in text
    assert "ck_[redacted]" in text and "svc_[redacted]" in text


def test_an_invitation_token_in_a_logged_path_is_masked():
    token = "tok3n-that-must-not-leak"
    with capture_json_logs() as lines:
        Client().post(f"/invitations/{token}")  # CSRF refusal: Django logs the path
    text = json.dumps(lines)
    assert lines
    assert token not in text
    assert "/invitations/[redacted]" in text
