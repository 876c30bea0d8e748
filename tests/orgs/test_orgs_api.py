"""Creating, reading, renaming and listing organizations through /api/orgs."""

import pytest

from orgs.models import AuditEvent, Membership, Organization
from orgs.services import personal_org_get_or_create

from .conftest import assert_envelope, events
from .factories import member_add, org_make


def test_create_returns_the_org_with_an_opaque_id_and_makes_the_caller_owner(user, api):
    response = api(user).post("/api/orgs", {"name": "Acme Inc"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "slug", "name", "role", "created_at"}
    assert body["name"] == "Acme Inc"
    assert body["slug"] == "acme-inc"
    assert body["role"] == "owner"
    org = Organization.objects.get(public_id=body["id"])
    assert body["id"] != str(org.pk)
    assert not body["id"].isdigit()
    assert len(body["id"]) >= 10
    assert Membership.objects.get(organization=org).user == user
    assert list(events(org).values_list("action", flat=True)) == ["org.created", "member.joined"]


def test_create_derives_a_free_slug_when_the_name_is_taken(user, api):
    org_make(name="Acme Inc")
    response = api(user).post("/api/orgs", {"name": "Acme Inc"}, format="json")

    assert response.status_code == 201
    assert response.json()["slug"] == "acme-inc-2"


def test_list_shows_only_team_orgs_the_caller_belongs_to(user, api):
    personal_org_get_or_create(user=user)
    mine = org_make(owner=user, name="Beta")
    joined = org_make(name="Alpha")
    member_add(joined, role="viewer", user=user)
    org_make(name="Someone Else's")

    response = api(user).get("/api/orgs")

    assert response.status_code == 200
    listed = response.json()["organizations"]
    assert [(o["id"], o["role"]) for o in listed] == [
        (joined.public_id, "viewer"),
        (mine.public_id, "owner"),
    ]


def test_get_and_patch_one_org(owner, org, api):
    client = api(owner)

    got = client.get(f"/api/orgs/{org.public_id}")
    assert got.status_code == 200
    assert got.json()["id"] == org.public_id
    assert got.json()["role"] == "owner"

    patched = client.patch(
        f"/api/orgs/{org.public_id}", {"name": "Acme Corp", "slug": "acme-corp"}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["name"] == "Acme Corp"
    assert patched.json()["slug"] == "acme-corp"
    org.refresh_from_db()
    assert (org.name, org.slug) == ("Acme Corp", "acme-corp")
    renamed = events(org, "org.renamed").get()
    assert renamed.before == {"name": "Acme Inc", "slug": "acme-inc"}
    assert renamed.after == {"name": "Acme Corp", "slug": "acme-corp"}


def test_patch_with_nothing_changed_writes_no_event(owner, org, api):
    before = events(org).count()
    response = api(owner).patch(f"/api/orgs/{org.public_id}", {"name": "Acme Inc"}, format="json")
    assert response.status_code == 200
    assert events(org).count() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "Other", "slug": "taken"}, "slug"),  # duplicate
        ({"name": "Other", "slug": "Not A Slug!"}, "slug"),
        ({"name": "Other", "slug": "-edge"}, "slug"),
        ({"name": "Other", "slug": "admin"}, "slug"),  # reserved
        ({"name": "Other", "slug": "api"}, "slug"),
        ({"name": "   "}, "name"),
        ({"name": ""}, "name"),
        ({}, "name"),
    ],
)
def test_create_with_bad_input_is_a_field_error_and_changes_nothing(user, api, payload, field):
    org_make(name="Taken", slug="taken")
    orgs, audit = Organization.objects.count(), AuditEvent.objects.count()

    response = api(user).post("/api/orgs", payload, format="json")

    error = assert_envelope(response, 400, "validation_error")
    assert field in error["fields"], error
    assert Organization.objects.count() == orgs
    assert AuditEvent.objects.count() == audit
    assert not Membership.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"slug": "taken"}, "slug"),
        ({"slug": "TAKEN"}, "slug"),  # slugs compare lowercased
        ({"slug": "has space"}, "slug"),
        ({"slug": "settings"}, "slug"),
        ({"name": " "}, "name"),
        ({"name": "x" * 101}, "name"),
    ],
)
def test_patch_with_bad_input_is_a_field_error_and_changes_nothing(owner, org, api, payload, field):
    org_make(name="Taken", slug="taken")
    audit = AuditEvent.objects.count()

    response = api(owner).patch(f"/api/orgs/{org.public_id}", payload, format="json")

    error = assert_envelope(response, 400, "validation_error")
    assert field in error["fields"], error
    org.refresh_from_db()
    assert (org.name, org.slug) == ("Acme Inc", "acme-inc")
    assert AuditEvent.objects.count() == audit


def test_rename_through_the_settings_page(owner, org, web):
    client = web(owner, org=org)

    response = client.post(
        "/settings/organization/update", {"name": "Acme Two", "slug": "acme-two"}, follow=True
    )

    assert response.status_code == 200
    assert b"Organization settings saved." in response.content
    org.refresh_from_db()
    assert org.slug == "acme-two"


def test_rename_page_with_a_taken_slug_shows_the_field_error(owner, org, web):
    org_make(name="Taken", slug="taken")
    audit = AuditEvent.objects.count()

    response = web(owner, org=org).post(
        "/settings/organization/update", {"name": "Acme Two", "slug": "taken"}
    )

    assert response.status_code == 400
    assert "The slug “taken” is already taken.".encode() in response.content
    org.refresh_from_db()
    assert (org.name, org.slug) == ("Acme Inc", "acme-inc")
    assert AuditEvent.objects.count() == audit


def test_create_through_the_page_switches_into_the_new_org(user, web):
    client = web(user)

    response = client.post("/settings/organization/create", {"name": "Initech"}, follow=True)

    assert response.status_code == 200
    assert b"Initech is ready. You are its owner." in response.content
    org = Organization.objects.get(slug="initech")
    assert client.session["hypereal.context"] == org.public_id


def test_create_page_with_a_reserved_slug_is_a_field_error(user, web):
    response = web(user).post("/settings/organization/create", {"name": "X", "slug": "admin"})

    assert response.status_code == 400
    assert "“admin” is reserved".encode() in response.content
    assert not Organization.objects.filter(kind="team").exists()
