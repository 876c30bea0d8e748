"""Spending caps are a budget decision (the role table's ``keys.cap_raise``).

A developer may create keys and lower caps; raising or removing a cap, creating a key
without one or above the organization's default, and turning off auto-disable need an
owner or an admin: a 403 ``permission_denied`` in the API, a field error on the form, and
nothing changes. Whatever is allowed is audited with the old and new values.
"""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apikeys import services
from apikeys.models import ApiKey
from orgs.models import AuditEvent
from orgs.permissions import PERMISSION_ROLES, Perm

from .factories import CREDIT, assert_envelope, join, key_make, personal, team

pytestmark = pytest.mark.django_db

URL = "/api/api-keys"
MANAGERS = ["owner", "admin", "developer"]


def may_raise(role: str) -> bool:
    return role in {r.value for r in PERMISSION_ROLES[Perm.KEYS_CAP_RAISE]}


def actor_in(org, role: str, owner):
    return owner if role == "owner" else join(org, role)


def api(user, org=None) -> APIClient:
    client = APIClient()
    client.force_login(user)
    if org is not None:
        assert client.post("/context/switch", {"organization": org.public_id}).status_code == 302
    client.default_format = "json"
    return client


def web(user, org=None) -> Client:
    client = Client()
    client.force_login(user)
    if org is not None:
        assert client.post("/context/switch", {"organization": org.public_id}).status_code == 302
    return client


def set_default(org, owner, credits: int | None) -> None:
    services.org_default_key_limit_set(
        organization=org,
        actor=owner,
        limit_microcredits=None if credits is None else credits * CREDIT,
    )


def key_state(key: ApiKey) -> tuple:
    key.refresh_from_db()
    return key.spending_limit_microcredits, key.auto_disable


def updates(org):
    return list(AuditEvent.objects.filter(organization=org, action="key.updated").order_by("pk"))


# --- updating a key --------------------------------------------------------------------------

#: (limit before, change, is it raising the budget?)
UPDATES = [
    ({"limit": 100}, {"spendingLimit": 50}, False),  # lower
    ({"limit": None}, {"spendingLimit": 50}, False),  # cap an uncapped key: lower
    ({"limit": 100}, {"spendingLimit": 100}, False),  # unchanged
    ({"limit": 100}, {"spendingLimit": 150}, True),  # raise
    ({"limit": 100}, {"spendingLimit": None}, True),  # remove
    ({"limit": 100, "auto": True}, {"autoDisable": False}, True),  # turn off auto-disable
    ({"limit": 100, "auto": False}, {"autoDisable": True}, False),  # turn it on
    ({"limit": 100, "auto": True}, {"autoDisable": True}, False),
]


@pytest.mark.parametrize("role", MANAGERS)
@pytest.mark.parametrize(("start", "change", "raising"), UPDATES)
def test_api_update_by_role(owner, role, start, change, raising):
    org = team(owner)
    key, _ = key_make(
        org=org, actor=owner, limit_credits=start["limit"], auto_disable=start.get("auto", False)
    )
    before = key_state(key)
    client = api(actor_in(org, role, owner), org)

    response = client.patch(f"{URL}/{key.public_id}", change)

    if raising and not may_raise(role):
        error = assert_envelope(response, 403, "permission_denied")
        assert "owner or an admin" in error["message"]
        assert key_state(key) == before
        assert updates(org) == []
    else:
        assert response.status_code == 200, response.content
        limit, auto = key_state(key)
        if "spendingLimit" in change:
            wanted = change["spendingLimit"]
            assert limit == (None if wanted is None else wanted * CREDIT)
        if "autoDisable" in change:
            assert auto is change["autoDisable"]
        if (limit, auto) != before:
            (event,) = updates(org)
            field = "spending_limit_microcredits" if "spendingLimit" in change else "auto_disable"
            old = before[0] if field == "spending_limit_microcredits" else before[1]
            new = limit if field == "spending_limit_microcredits" else auto
            assert event.before == {field: old} and event.after == {field: new}


@pytest.mark.parametrize("role", MANAGERS)
def test_the_edit_form_refuses_a_raise_beside_the_field(owner, role):
    org = team(owner)
    key, _ = key_make(org=org, actor=owner, limit_credits=100, auto_disable=True)
    client = web(actor_in(org, role, owner), org)
    form = {"name": key.name, "spending_limit": "250", "auto_disable": "on"}

    response = client.post(f"/manage-api-keys/{key.public_id}/edit", form)

    if may_raise(role):
        assert response.status_code == 302
        assert key_state(key) == (250 * CREDIT, True)
    else:
        assert response.status_code == 400
        field = response.context["edit_form"]["spending_limit"]
        assert any("raise or remove" in e for e in field.errors)
        assert key_state(key) == (100 * CREDIT, True)
        # Turning off auto-disable (checkbox left empty) is refused on its own field.
        off = client.post(
            f"/manage-api-keys/{key.public_id}/edit",
            {"name": key.name, "spending_limit": "100"},
        )
        assert off.status_code == 400
        assert off.context["edit_form"]["auto_disable"].errors
        assert key_state(key) == (100 * CREDIT, True)
        # Lowering is fine.
        lower = client.post(
            f"/manage-api-keys/{key.public_id}/edit",
            {"name": key.name, "spending_limit": "40.5", "auto_disable": "on"},
        )
        assert lower.status_code == 302
        assert key_state(key) == (40_500_000, True)


def test_an_untouched_edit_form_keeps_a_fractional_cap(owner):
    """The form shows the cap exactly (12.5, not 12), so saving it unchanged changes nothing."""
    org = team(owner)
    developer = join(org, "developer")
    key, _ = services.apikey_create(
        organization=org, actor=owner, name="k", spending_limit_microcredits=12_500_000
    )
    client = web(developer, org)
    page = client.get(f"/manage-api-keys/{key.public_id}")
    assert page.context["edit_form"]["spending_limit"].value() == "12.5"
    assert 'value="12.5"' in page.content.decode()
    response = client.post(
        f"/manage-api-keys/{key.public_id}/edit", {"name": "k", "spending_limit": "12.5"}
    )
    assert response.status_code == 302
    assert key_state(key) == (12_500_000, False)


# --- creating a key ----------------------------------------------------------------------------

#: (org default in credits, body, outcome: credits of the new key, "none" or "denied" for
#: roles that may not raise)
CREATES = [
    (None, {}, "denied"),  # no default, no cap: uncapped
    (None, {"spendingLimit": None}, "denied"),
    (None, {"spendingLimit": 700}, 700),
    (500, {}, 500),  # starts at the default
    (500, {"spendingLimit": 200}, 200),
    (500, {"spendingLimit": 500}, 500),
    (500, {"spendingLimit": 501}, "denied"),
    (500, {"spendingLimit": None}, "denied"),
]


@pytest.mark.parametrize("role", MANAGERS)
@pytest.mark.parametrize(("default", "body", "outcome"), CREATES)
def test_api_create_by_role(owner, role, default, body, outcome):
    org = team(owner)
    set_default(org, owner, default)
    client = api(actor_in(org, role, owner), org)

    response = client.post(URL, {"name": "k", **body})

    if outcome == "denied" and not may_raise(role):
        assert_envelope(response, 403, "permission_denied")
        assert not ApiKey.objects.filter(organization=org).exists()
        assert not AuditEvent.objects.filter(organization=org, action="key.created").exists()
        return
    assert response.status_code == 201, response.content
    key = ApiKey.objects.get(public_id=response.json()["id"])
    if outcome == "denied":  # an owner or admin got what they asked for
        wanted = body.get("spendingLimit", default)
        outcome = "none" if wanted is None else wanted
    expected = None if outcome == "none" else outcome * CREDIT
    assert key.spending_limit_microcredits == expected
    assert response.json()["spendingLimitMicrocredits"] == expected
    event = AuditEvent.objects.get(organization=org, action="key.created")
    assert event.after["spending_limit_microcredits"] == expected


@pytest.mark.parametrize("role", MANAGERS)
def test_the_create_form_starts_at_the_default_and_refuses_above_it(owner, role):
    org = team(owner)
    set_default(org, owner, 300)
    client = web(actor_in(org, role, owner), org)

    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):  # the page and the dialog
        page = client.get("/manage-api-keys/new", **headers)
        assert page.context["form"]["spending_limit"].value() == "300"
        assert 'value="300"' in page.content.decode()
        hint = "At most the default of 300 credits; only an owner or an admin"
        assert (hint in page.content.decode()) is not may_raise(role)

    above = client.post("/manage-api-keys/new", {"name": "big", "spending_limit": "300.01"})
    empty = client.post("/manage-api-keys/new", {"name": "nocap", "spending_limit": ""})
    if may_raise(role):
        assert above.status_code == 201 and empty.status_code == 201
        assert ApiKey.objects.get(name="big").spending_limit_microcredits == 300_010_000
        assert ApiKey.objects.get(name="nocap").spending_limit_microcredits is None
    else:
        for response in (above, empty):
            assert response.status_code == 400
            assert response.context["form"]["spending_limit"].errors
        assert "above the default of 300.00 credits" in above.content.decode()
        assert not ApiKey.objects.filter(organization=org).exists()
    at_default = client.post("/manage-api-keys/new", {"name": "ok", "spending_limit": "300"})
    assert at_default.status_code == 201
    assert ApiKey.objects.get(name="ok").spending_limit_microcredits == 300 * CREDIT


def test_a_personal_account_is_its_owners_to_decide(owner):
    client = api(owner)
    response = client.post(URL, {"name": "mine", "spendingLimit": None})
    assert response.status_code == 201
    key = ApiKey.objects.get(public_id=response.json()["id"])
    assert key.organization == personal(owner) and key.spending_limit_microcredits is None


# --- the default cap ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "developer", "billing", "viewer"])
def test_the_default_cap_on_the_settings_page_by_role(owner, role):
    org = team(owner)
    client = web(actor_in(org, role, owner), org)
    allowed = role in {r.value for r in PERMISSION_ROLES[Perm.KEYS_DEFAULT_CAP]}

    page = client.get("/settings/organization")
    html = page.content.decode()
    assert ('name="default_key_spending_limit"' in html) is allowed
    response = client.post(
        "/settings/organization/key-defaults", {"default_key_spending_limit": "1,234.5"}
    )
    org.refresh_from_db()
    if allowed:
        assert response.status_code == 302
        assert org.default_key_spending_limit_microcredits == 1_234_500_000
        event = AuditEvent.objects.get(organization=org, action="org.default_key_limit_changed")
        assert event.before == {"default_key_spending_limit_microcredits": None}
        assert event.after == {"default_key_spending_limit_microcredits": 1_234_500_000}
        shown = client.get("/settings/organization").content.decode()
        assert 'value="1234.5"' in shown
        bad = client.post(
            "/settings/organization/key-defaults", {"default_key_spending_limit": "0"}
        )
        assert bad.status_code == 400
        assert "Enter more than zero credits." in bad.content.decode()
    else:
        assert response.status_code == 403
        assert org.default_key_spending_limit_microcredits is None
        assert not AuditEvent.objects.filter(action="org.default_key_limit_changed").exists()


def test_the_default_cap_api(owner):
    org = team(owner)
    billing = join(org, "billing")
    client = api(billing)
    url = f"/api/orgs/{org.public_id}/key-defaults"
    assert client.get(url).json() == {
        "default_key_spending_limit": None,
        "default_key_spending_limit_microcredits": None,
    }
    response = client.patch(url, {"default_key_spending_limit": 250.75})
    assert response.status_code == 200, response.content
    assert response.json()["default_key_spending_limit_microcredits"] == 250_750_000
    assert client.get(url).json()["default_key_spending_limit"] == 250.75
    cleared = client.patch(url, {"default_key_spending_limit": None})
    assert cleared.json()["default_key_spending_limit"] is None
    changes = AuditEvent.objects.filter(
        organization=org, action="org.default_key_limit_changed"
    ).order_by("pk")
    assert [e.after["default_key_spending_limit_microcredits"] for e in changes] == [
        250_750_000,
        None,
    ]
    error = assert_envelope(
        client.patch(url, {"default_key_spending_limit": -1}), 400, "validation_error"
    )
    assert "default_key_spending_limit" in error["message"]
    developer = api(join(org, "developer"))
    assert_envelope(developer.patch(url, {"default_key_spending_limit": 1}), 403)
