"""Messages written in Python reach people in their language: an API error's ``message``
follows the request's language while its ``type`` stays English, a service's refusal is
shown in Arabic on a page, and the admin's labels are Arabic. English stays as it was."""

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apikeys import services as key_services
from orgs.models import Organization
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import fund, key_make, personal, team

pytestmark = pytest.mark.django_db

ARABIC = re.compile(r"[\u0600-\u06ff]")


def key_call(plaintext: str, **headers):
    return APIClient().get("/v1/key", HTTP_AUTHORIZATION=f"Bearer {plaintext}", **headers)


def revoked_key() -> str:
    owner = UserFactory()
    key, plaintext = key_make(org=personal(owner), actor=owner)
    key_services.apikey_revoke(key=key, actor=owner)
    return plaintext


def test_a_key_refusal_is_in_arabic_when_the_call_asks_for_it_and_its_type_stays_english():
    plaintext = revoked_key()

    arabic = key_call(plaintext, HTTP_ACCEPT_LANGUAGE="ar")
    english = key_call(plaintext)

    assert arabic.status_code == english.status_code == 401
    assert arabic.json()["error"] == {"type": "key_revoked", "message": "أُبطل مفتاح API هذا."}
    assert english.json()["error"] == {
        "type": "key_revoked",
        "message": "This API key was revoked.",
    }


def test_an_unknown_api_key_is_refused_in_arabic():
    response = key_call("ck_" + "x" * 40, HTTP_ACCEPT_LANGUAGE="ar,en;q=0.5")

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] in {"invalid_api_key", "authentication_failed"}
    assert ARABIC.search(error["message"]), error


def test_a_service_validation_error_in_a_browser_api_names_its_field_in_arabic(api_client_for):
    client = api_client_for(UserFactory())
    body = {"name": "laptop", "allowedModels": ["no-such-model"]}

    arabic = client.post("/api/api-keys", body, format="json", HTTP_ACCEPT_LANGUAGE="ar")
    english = client.post("/api/api-keys", body, format="json")

    assert arabic.status_code == english.status_code == 400
    assert arabic.json()["error"]["type"] == "validation_error"
    assert arabic.json()["error"]["message"] == "allowedModels: نماذج غير معروفة: no-such-model."
    assert arabic.json()["error"]["fields"] == {
        "allowedModels": ["نماذج غير معروفة: no-such-model."]
    }
    assert english.json()["error"]["message"] == "allowedModels: Unknown model(s): no-such-model."


def test_a_service_refusal_on_a_form_page_is_in_the_accounts_language():
    user = UserFactory(language="ar")
    client = Client()
    client.force_login(user)

    response = client.post("/settings/organization/create", {"name": "X", "slug": "admin"})

    assert response.status_code == 400
    assert "«admin» محجوز. اختر غيره." in response.content.decode()
    assert not Organization.objects.filter(kind="team").exists()


def test_a_refusal_flashed_after_an_action_is_in_arabic():
    """The last owner's refusal is one of three whole sentences (lazy, module level), put
    into the page's language when it is raised."""
    owner = UserFactory(language="ar")
    org = team(owner)
    client = Client()
    client.force_login(owner)
    client.post("/context/switch", {"organization": org.public_id})

    response = client.post("/settings/organization/leave", follow=True)

    page = response.content.decode()
    assert "لا يمكن لآخر مالك المغادرة. اجعل شخصًا آخر مالكًا أولًا." in page
    assert "The last owner cannot leave" not in page


def test_the_admin_names_apps_models_and_columns_in_arabic(client_for):
    staff = UserFactory(is_staff=True, is_superuser=True, language="ar")
    client = client_for(staff)
    fund(personal(UserFactory()), 5)  # a wallet, so that its list has columns

    index = client.get("/admin/").content.decode()
    wallets = client.get("/admin/billing/wallet/").content.decode()

    assert "الفوترة" in index  # the billing app's verbose name
    assert "قيود السجل" in index  # LedgerEntry's verbose_name_plural
    assert "مفاتيح API" in index
    assert "الرصيد (رصيد)" in wallets  # an @admin.display column
    assert "Balance (credits)" not in wallets
