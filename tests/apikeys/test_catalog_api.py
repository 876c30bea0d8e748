"""``GET /internal/v1/catalog``: what the gateway routes by, with an ETag that changes
exactly when the catalog does."""

import pytest

from billing import catalog
from billing.models import CatalogModel
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/internal/v1/catalog"


def test_the_catalog_lists_active_models_aliases_intents_and_minimums(internal):
    CatalogModel.objects.filter(model_id="glm-5").update(active=False)
    catalog.invalidate()
    response = internal.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"models", "aliases", "intents", "minimum_balance"}
    models = {m["model_id"]: m for m in body["models"]}
    assert "glm-5" not in models
    assert len(models) == CatalogModel.objects.filter(active=True).count()
    assert all(m["active"] for m in body["models"])

    gpt = models["gpt-5.5"]
    assert gpt["pricing"] == "per_token"
    assert gpt["input_nanocredits_per_token"] == 125_000
    assert gpt["output_nanocredits_per_token"] == 1_000_000
    assert gpt["endpoints"] == ["chat.completions", "responses"]
    assert gpt["fallbacks"] and set(gpt["fallbacks"][0]) == {
        "provider",
        "region",
        "upstream_model",
    }
    image = models["gpt-image-2"]
    assert image["unit_microcredits"] == 4_000_000
    assert image["tier_microcredits"] == {"1K": 4_000_000, "2K": 8_000_000, "4K": 16_000_000}
    assert models["wan2.6"]["max_seconds"] == 15

    assert body["aliases"]["claude-3-5-sonnet-20241022"] == "claude-sonnet-4-6"
    fast = body["intents"]["text-to-image-fast"]
    assert fast["cheapest"] == "gemini-3.1-fast-imagen"  # 2 credits, the cheapest of five
    assert "gemini-3.1-fast-imagen" in fast["models"] and fast["description"]
    assert body["intents"]["chat-cheap"]["cheapest"] == "qwen3.5-flash"

    minimums = body["minimum_balance"]
    assert minimums["token_endpoints_microcredits"] == 200_000_000
    assert set(minimums["token_endpoints"]) == {
        "chat.completions",
        "messages",
        "responses",
        "gemini",
    }


def test_etag_and_if_none_match(internal):
    first = internal.get(URL)
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    again = internal.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert internal.get(URL, HTTP_IF_NONE_MATCH='"stale"').status_code == 200


def test_a_price_change_changes_the_etag(internal):
    etag = internal.get(URL)["ETag"]
    CatalogModel.objects.filter(model_id="gpt-5.5").update(output_nanocredits_per_token=900_000)
    # Without invalidation every worker keeps serving the snapshot it has.
    assert internal.get(URL, HTTP_IF_NONE_MATCH=etag).status_code == 304
    catalog.invalidate()
    response = internal.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200
    assert response["ETag"] != etag
    models = {m["model_id"]: m for m in response.json()["models"]}
    assert models["gpt-5.5"]["output_nanocredits_per_token"] == 900_000


def test_a_change_in_the_admin_changes_the_etag(internal, client_for):
    etag = internal.get(URL)["ETag"]
    staff = UserFactory(is_staff=True, is_superuser=True)
    model = CatalogModel.objects.get(model_id="glm-5")
    admin = client_for(staff)
    page = admin.get(f"/admin/billing/catalogmodel/{model.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name, _field in form.fields.items():
        value = form[name].value()
        if value is None or value is False:
            continue
        data[name] = value
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management[name].value()
        for inline_form in formset.formset.forms:
            for name in inline_form.fields:
                value = inline_form[name].value()
                if value is not None and value is not False:
                    data[f"{inline_form.prefix}-{name}"] = value
    data["active"] = ""
    data.pop("active")
    response = admin.post(f"/admin/billing/catalogmodel/{model.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert CatalogModel.objects.get(pk=model.pk).active is False
    after = internal.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert after.status_code == 200 and after["ETag"] != etag
    assert "glm-5" not in {m["model_id"] for m in after.json()["models"]}
