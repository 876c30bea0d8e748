"""The inference-plane API is a contract: it is in the OpenAPI document with its auth."""

import json

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_contract_is_in_the_openapi_document():
    document = json.loads(Client().get("/api/schema/?format=json").content)
    paths = document["paths"]
    for path, method in [
        ("/internal/v1/keys/verify", "post"),
        ("/internal/v1/usage", "post"),
        ("/internal/v1/holds", "post"),
        ("/internal/v1/holds/{hold_id}/capture", "post"),
        ("/internal/v1/holds/{hold_id}/release", "post"),
        ("/internal/v1/catalog", "get"),
        ("/v1/key", "get"),
        ("/api/api-keys", "post"),
        ("/api/api-keys/{key_id}", "patch"),
        ("/api/api-keys/{key_id}/rotate", "post"),
    ]:
        assert method in paths.get(path, {}), path
    schemes = document["components"]["securitySchemes"]
    assert schemes["serviceToken"] == {"type": "http", "scheme": "bearer", "bearerFormat": "svc_…"}
    assert schemes["customerKey"]["bearerFormat"] == "ck_…"
    verify = paths["/internal/v1/keys/verify"]["post"]
    assert verify["security"] == [{"serviceToken": []}]
    answer = verify["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    fields = document["components"]["schemas"][answer.rsplit("/", 1)[1]]["properties"]
    assert {
        "key",
        "owner",
        "wallet",
        "period_spend_microcredits",
        "cache_ttl_seconds",
        "fallbacks",
    } <= set(fields)
    assert paths["/v1/key"]["get"]["security"] == [{"customerKey": []}]
