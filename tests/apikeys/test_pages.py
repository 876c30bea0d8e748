"""``/manage-api-keys``: the console pages, driven like a browser (and like htmx)."""

import re

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from apikeys import keyformat, services
from apikeys.models import ApiKey, KeyAlert, KeyMonthSpend
from orgs.models import AuditEvent
from tests.accounts.factories import UserFactory
from usage.ingest import usage_ingest

from .factories import CREDIT, event, fund, join, key_make, personal, team

pytestmark = pytest.mark.django_db

KEY_IN_HTML = re.compile(r"ck_[0-9A-Za-z]{38}")


def browser(user, org=None) -> Client:
    client = Client()
    client.force_login(user)
    if org is not None:
        assert client.post("/context/switch", {"organization": org.public_id}).status_code == 302
    return client


def text(response) -> str:
    return response.content.decode()


def test_the_list_shows_masked_key_creator_and_spend_bar(owner):
    org = personal(owner)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=200)
    KeyMonthSpend.objects.create(
        key=key, period=timezone.now().strftime("%Y-%m"), spend_microcredits=170 * CREDIT
    )
    key_make(org=org, actor=owner, name="no-limit")
    response = browser(owner).get("/manage-api-keys")
    assert response.status_code == 200
    html = text(response)
    assert key.masked in html and plaintext not in html
    assert not KEY_IN_HTML.search(html)
    assert owner.email in html
    assert 'aria-valuenow="85"' in html and "meter--warn" in html
    assert "170.00 / 200.00" in html
    assert "no-limit" in html and "credits · no limit" in html
    assert "Create API key" in html


def test_create_on_the_page_reveals_the_key_once(owner):
    client = browser(owner)
    response = client.post(
        "/manage-api-keys/new", {"name": "prod-eu", "spending_limit": "500", "auto_disable": "on"}
    )
    assert response.status_code == 201
    (plaintext,) = set(KEY_IN_HTML.findall(text(response)))
    assert keyformat.is_well_formed(plaintext)
    key = ApiKey.objects.get(secret_hash=keyformat.hash_secret(plaintext))
    assert key.organization == personal(owner)
    assert key.spending_limit_microcredits == 500 * CREDIT and key.auto_disable
    assert "Copy" in text(response)
    # Never again: not on the list, not on the detail page.
    for url in ("/manage-api-keys", f"/manage-api-keys/{key.public_id}"):
        html = text(client.get(url))
        assert plaintext not in html and key.masked in html


def test_create_through_htmx_returns_only_the_reveal_partial(owner):
    client = browser(owner)
    dialog = client.get("/manage-api-keys/new", HTTP_HX_REQUEST="true")
    assert dialog.status_code == 200
    assert "<html" not in text(dialog) and 'hx-post="/manage-api-keys/new"' in text(dialog)

    response = client.post("/manage-api-keys/new", {"name": "laptop"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 201
    assert response["HX-Trigger"] == "key-created"
    html = text(response)
    assert "<html" not in html and 'data-testid="key-reveal"' in html
    assert "<form" not in html
    (plaintext,) = set(KEY_IN_HTML.findall(html))
    assert ApiKey.objects.filter(secret_hash=keyformat.hash_secret(plaintext)).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "k", "spending_limit": "0"}, "Enter more than zero credits"),
        ({"name": "k", "spending_limit": "-3"}, ""),
        ({"name": "k", "spending_limit": "lots"}, ""),
        ({"name": "k", "allowed_models": "gpt-5.5, gpt-9-imaginary"}, "gpt-9-imaginary"),
        ({"name": "k", "expires_at": "2001-01-01 00:00"}, "The expiry must be in the future."),
    ],
)
def test_bad_input_shows_field_errors_and_creates_nothing(owner, data, message):
    client = browser(owner)
    response = client.post("/manage-api-keys/new", data)
    assert response.status_code == 400
    html = text(response)
    assert "field--invalid" in html and message in html
    assert not KEY_IN_HTML.search(html)
    # In the htmx dialog the errors come back as 200 so that htmx swaps them in.
    response = client.post("/manage-api-keys/new", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "field--invalid" in text(response)
    assert "HX-Trigger" not in response
    assert ApiKey.objects.count() == 0


def test_the_detail_page_shows_spend_alerts_and_recent_usage(
    owner, django_capture_on_commit_callbacks
):
    org = personal(owner)
    fund(org, 1000)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=10)
    # 10,000 output tokens of gpt-5.5 = 10 credits: the whole limit.
    with django_capture_on_commit_callbacks(execute=True):
        result = usage_ingest(
            events=[
                event(key, input_tokens=0, output_tokens=4_000, model="gpt-5.5"),
                event(key, input_tokens=0, output_tokens=4_000, model="gpt-5.5"),
                event(key, input_tokens=0, output_tokens=2_000, model="gpt-5.5"),
                event(
                    key, status_code=502, model="claude-3-5-sonnet-20241022", endpoint="messages"
                ),
            ]
        )
    assert result["accepted"] == 4
    html = text(browser(owner).get(f"/manage-api-keys/{key.public_id}"))
    assert key.masked in html and plaintext not in html
    assert 'aria-valuenow="100"' in html and "meter--over" in html
    assert "100% of the 10.00-credit monthly limit." in html
    assert "80% heads-up" in html and "100% cap reached" in html
    assert "gpt-5.5" in html and "claude-sonnet-4-6" in html and "502" in html
    assert KeyAlert.objects.filter(key=key).count() == 2


def test_edit_saves_and_audits(owner):
    key, _ = key_make(org=personal(owner), actor=owner, limit_credits=10)
    client = browser(owner)
    response = client.post(
        f"/manage-api-keys/{key.public_id}/edit",
        {"name": "renamed", "spending_limit": "25", "allowed_models": "gpt-5.5"},
        follow=True,
    )
    assert response.redirect_chain == [(f"/manage-api-keys/{key.public_id}", 302)]
    assert "Key settings saved." in text(response)
    key.refresh_from_db()
    assert (key.name, key.spending_limit_microcredits, key.allowed_models) == (
        "renamed",
        25 * CREDIT,
        ["gpt-5.5"],
    )
    assert AuditEvent.objects.filter(action="key.updated", target_id=key.public_id).count() == 1


def test_a_bad_edit_shows_errors_and_changes_nothing(owner):
    key, _ = key_make(org=personal(owner), actor=owner, limit_credits=10)
    response = browser(owner).post(
        f"/manage-api-keys/{key.public_id}/edit",
        {"name": "renamed", "spending_limit": "0", "allowed_models": "gpt-9-imaginary"},
    )
    assert response.status_code == 400
    assert "Enter more than zero credits" in text(response)
    key.refresh_from_db()
    assert key.name == "prod-eu" and key.spending_limit_microcredits == 10 * CREDIT
    response = browser(owner).post(
        f"/manage-api-keys/{key.public_id}/edit",
        {"name": "renamed", "allowed_models": "gpt-9-imaginary"},
    )
    assert response.status_code == 400 and "gpt-9-imaginary" in text(response)
    key.refresh_from_db()
    assert key.name == "prod-eu"


def test_rotate_on_the_page_shows_the_new_secret_once(owner):
    key, old = key_make(org=personal(owner), actor=owner)
    client = browser(owner)
    response = client.post(f"/manage-api-keys/{key.public_id}/rotate", {"grace_hours": "2"})
    assert response.status_code == 200
    html = text(response)
    (new,) = set(KEY_IN_HTML.findall(html))
    assert new != old and "The old secret keeps working until" in html
    key.refresh_from_db()
    assert key.secret_hash == keyformat.hash_secret(new)
    assert new not in text(client.get(f"/manage-api-keys/{key.public_id}"))
    bad = client.post(f"/manage-api-keys/{key.public_id}/rotate", {"grace_hours": "25"})
    assert bad.status_code == 400 and not KEY_IN_HTML.search(text(bad))
    key.refresh_from_db()
    assert key.secret_hash == keyformat.hash_secret(new)


def test_revoke_needs_the_name_typed(owner):
    key, _ = key_make(org=personal(owner), actor=owner)
    client = browser(owner)
    response = client.post(
        f"/manage-api-keys/{key.public_id}/revoke", {"confirm": "prod"}, follow=True
    )
    assert "Type the key&#x27;s name (prod-eu) to revoke it." in text(response)
    assert ApiKey.objects.get(pk=key.pk).status == "active"
    response = client.post(
        f"/manage-api-keys/{key.public_id}/revoke", {"confirm": "prod-eu"}, follow=True
    )
    assert response.redirect_chain == [("/manage-api-keys", 302)]
    assert "was revoked" in text(response)
    assert ApiKey.objects.get(pk=key.pk).status == "revoked"
    assert key.masked not in text(client.get("/manage-api-keys"))


def test_revoke_through_htmx_redirects_the_client(owner):
    key, _ = key_make(org=personal(owner), actor=owner)
    response = browser(owner).post(
        f"/manage-api-keys/{key.public_id}/revoke", {"confirm": "prod-eu"}, HTTP_HX_REQUEST="true"
    )
    assert response["HX-Redirect"] == "/manage-api-keys"
    assert ApiKey.objects.get(pk=key.pk).status == "revoked"


def test_re_enable_a_disabled_key(owner):
    key, _ = key_make(org=personal(owner), actor=owner)
    with transaction.atomic():
        services.apikey_auto_disable_in_transaction(key_id=key.pk, reason="spending_limit_reached")
    client = browser(owner)
    html = text(client.get(f"/manage-api-keys/{key.public_id}"))
    assert "Re-enable key" in html and "Monthly spending limit reached" in html
    response = client.post(f"/manage-api-keys/{key.public_id}/enable", follow=True)
    assert "is active again" in text(response)
    assert ApiKey.objects.get(pk=key.pk).status == "active"
    assert AuditEvent.objects.filter(action="key.enabled", target_id=key.public_id).count() == 1
    # Enabling an active key says why not.
    response = client.post(f"/manage-api-keys/{key.public_id}/enable", follow=True)
    assert "Only a disabled key can be re-enabled" in text(response)


def test_a_viewer_reads_but_every_post_is_403(owner):
    org = team(owner)
    key, _ = key_make(org=org, actor=owner)
    viewer = join(org, "viewer")
    client = browser(viewer, org)
    html = text(client.get("/manage-api-keys"))
    assert "Read-only for your role" in html and key.masked in html
    assert 'href="/manage-api-keys/new"' not in html
    detail = text(client.get(f"/manage-api-keys/{key.public_id}"))
    assert key.masked in detail and "Revoke key" not in detail and "Rotate" not in detail
    assert client.get("/manage-api-keys/new").status_code == 403
    for path, data in [
        ("/manage-api-keys/new", {"name": "x"}),
        (f"/manage-api-keys/{key.public_id}/edit", {"name": "x"}),
        (f"/manage-api-keys/{key.public_id}/rotate", {"grace_hours": "0"}),
        (f"/manage-api-keys/{key.public_id}/revoke", {"confirm": key.name}),
        (f"/manage-api-keys/{key.public_id}/enable", {}),
    ]:
        assert client.post(path, data).status_code == 403, path
    key.refresh_from_db()
    assert key.status == "active" and key.name == "prod-eu"
    assert ApiKey.objects.filter(organization=org).count() == 1


def test_a_developer_manages_team_keys_in_the_team_context(owner):
    org = team(owner)
    developer = join(org, "developer")
    client = browser(developer, org)
    assert "Keys of <bdi>Acme Inc</bdi>" in text(client.get("/manage-api-keys"))
    # Without a default cap, a developer's key needs a cap of its own (a budget decision).
    refused = client.post("/manage-api-keys/new", {"name": "team-dev"})
    assert refused.status_code == 400
    assert "without a monthly limit" in text(refused)
    assert not ApiKey.objects.filter(name="team-dev").exists()
    response = client.post("/manage-api-keys/new", {"name": "team-dev", "spending_limit": "100"})
    assert response.status_code == 201
    key = ApiKey.objects.get(name="team-dev")
    assert key.organization == org and key.created_by == developer
    assert key.spending_limit_microcredits == 100 * CREDIT


def test_billing_cannot_see_the_keys_pages(owner):
    org = team(owner)
    key, _ = key_make(org=org, actor=owner)
    client = browser(join(org, "billing"), org)
    assert client.get("/manage-api-keys").status_code == 403
    assert client.get(f"/manage-api-keys/{key.public_id}").status_code == 403


def test_another_organizations_key_page_is_404(owner):
    org = team(owner)
    key, _ = key_make(org=org, actor=owner)
    stranger = UserFactory()
    client = browser(stranger)
    assert client.get(f"/manage-api-keys/{key.public_id}").status_code == 404
    assert (
        client.post(f"/manage-api-keys/{key.public_id}/revoke", {"confirm": key.name}).status_code
        == 404
    )
    assert ApiKey.objects.get(pk=key.pk).status == "active"


def test_signed_out_goes_to_login():
    response = Client().get("/manage-api-keys")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
