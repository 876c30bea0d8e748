"""The audit CSV through ``stream_csv``: formula cells neutralised, the same bytes from
PostgreSQL's COPY as from the Python iterator, opaque ids, and no IP address or user agent
for the roles that may not see where a change came from."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.db import connection

from hypereal_site.csvstream import _python_rows, csv_rows, neutralise
from orgs.audit import audit_csv_columns
from orgs.models import AuditEvent, Invitation
from orgs.selectors import audit_events
from tests.api.envelope import assert_envelope

from .conftest import IP, UA

pytestmark = pytest.mark.django_db

FORMULA = "=cmd|x@example.com"


def _table(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise(cell, expected):
    assert neutralise(cell) == expected


def test_a_formula_email_is_a_valid_invitation_and_a_text_cell(owner, org, api, web):
    response = api(owner).post(
        f"/api/orgs/{org.public_id}/invitations", {"email": FORMULA, "role": "viewer"}
    )
    assert response.status_code == 201, response.content
    assert Invitation.objects.filter(organization=org, email=FORMULA).exists()

    for export in (
        web(owner, org=org).get("/settings/organization/audit.csv"),
        api(owner).get(f"/api/orgs/{org.public_id}/audit/export"),
    ):
        table = _table(export)
        invited = next(row for row in table if row["action"] == "member.invited")
        assert invited["target"] == "'" + FORMULA
        # No cell of the export starts like a formula.
        assert not [v for row in table for v in row.values() if v and v[0] in "=+-@\t\r"]


def _tricky_history(org):
    with_fraction = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    whole_second = datetime(2025, 3, 2, 12, 0, 0, tzinfo=UTC)
    AuditEvent.objects.create(
        organization=org,
        action="test.tricky",
        actor_label='quote " and, comma',
        target_type="member",
        target_id="-1",
        target_label="line\nbreak",
        before={"zz": 1, "a": "é", "nested": {"bb": [1, "=x"], "a": None}},
        after={"role": "+admin"},
        ip_address="2001:db8::1",
        user_agent="@agent",
        request_id="",
        created_at=with_fraction,
    )
    AuditEvent.objects.create(
        organization=org, action="=SUM(A1)", actor_label="", created_at=whole_second
    )


def test_copy_and_iterator_write_the_same_bytes(org):
    """On PostgreSQL the export comes from COPY; it must match the Python path byte for
    byte (elsewhere both sides are the Python path and this checks the header and order)."""
    _tricky_history(org)
    events = audit_events(organization=org)
    columns = audit_csv_columns(show_origin=True)
    produced = "".join(
        part.decode() if isinstance(part, bytes) else part for part in csv_rows(events, columns)
    )
    header, _, body = produced.partition("\n")
    assert header.split(",") == [c.header for c in columns]
    assert body == "".join(_python_rows(events, columns))
    table = list(csv.DictReader(io.StringIO(produced)))
    assert [row["id"] for row in table] == list(events.values_list("public_id", flat=True))
    tricky = next(row for row in table if row["action"] == "test.tricky")
    assert tricky["time"] == "2025-03-01T12:00:00.123456+00:00"
    assert tricky["target_id"] == "'-1"
    assert tricky["target"] == "line\nbreak"
    assert tricky["actor"] == 'quote " and, comma'
    assert tricky["ip_address"] == "2001:db8::1"
    assert tricky["user_agent"] == "'@agent"
    assert tricky["after"] == '{"role": "+admin"}'
    assert tricky["before"].startswith('{"a": "é", "zz": 1, "nested": {"a": null')
    formula = next(row for row in table if row["time"] == "2025-03-02T12:00:00+00:00")
    assert formula["action"] == "'=SUM(A1)"
    if connection.vendor == "postgresql":
        assert any(isinstance(part, bytes) for part in csv_rows(events, columns)), "COPY"


@pytest.mark.parametrize(
    ("role", "sees_origin"),
    [("admin", True), ("billing", False), ("viewer", False)],
)
def test_only_owners_and_admins_see_where_changes_came_from(
    org, member, web, api, role, sees_origin
):
    user = member(role).user
    AuditEvent.objects.create(organization=org, action="test.origin", ip_address=IP, user_agent=UA)
    origin = {"ip_address", "user_agent"}
    for export in (
        web(user, org=org).get("/settings/organization/audit.csv"),
        api(user).get(f"/api/orgs/{org.public_id}/audit/export"),
    ):
        assert export.status_code == 200
        table = _table(export)
        row = next(r for r in table if r["action"] == "test.origin")
        assert (origin <= set(row)) is sees_origin
        if sees_origin:
            assert (row["ip_address"], row["user_agent"]) == (IP, UA)

    listed = api(user).get(f"/api/orgs/{org.public_id}/audit").json()["results"]
    event = next(e for e in listed if e["action"] == "test.origin")
    assert (origin <= set(event)) is sees_origin

    page = web(user, org=org).get("/settings/organization/audit").content.decode()
    assert (IP in page) is sees_origin


def test_owners_see_the_origin(owner, org, web):
    AuditEvent.objects.create(organization=org, action="test.origin", ip_address=IP)
    assert IP in web(owner, org=org).get("/settings/organization/audit").content.decode()


def test_events_carry_opaque_ids(owner, org, api):
    listed = api(owner).get(f"/api/orgs/{org.public_id}/audit").json()["results"]
    stored = dict(AuditEvent.objects.filter(organization=org).values_list("public_id", "pk"))
    assert listed and {e["id"] for e in listed} == set(stored)
    for event in listed:
        assert isinstance(event["id"], str) and len(event["id"]) == 12
        assert event["id"] != str(stored[event["id"]])


@pytest.mark.parametrize(
    "query",
    [{"until": "9999-12-31"}, {"since": "0001-01-01"}, {"since": "9999-12-31"}],
)
def test_page_and_csv_refuse_dates_out_of_range_with_a_form_error(owner, org, web, query):
    client = web(owner, org=org)
    for url in ("/settings/organization/audit", "/settings/organization/audit.csv"):
        response = client.get(url, query)
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/html")
        assert b"Ensure this value is" in response.content


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"until": "9999-12-31T23:59:59Z"}, "until"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"until": "1970-01-01T00:00:00Z"}, "until"),
    ],
)
def test_api_refuses_dates_out_of_range(owner, org, api, query, field):
    for path in ("audit", "audit/export"):
        response = api(owner).get(f"/api/orgs/{org.public_id}/{path}", query)
        error = assert_envelope(response, 400, "validation_error")
        assert field in error["fields"]


def test_the_last_accepted_day_still_answers(owner, org, web, api):
    page = web(owner, org=org).get("/settings/organization/audit", {"until": "2999-12-31"})
    assert page.status_code == 200
    url = f"/api/orgs/{org.public_id}/audit"
    assert api(owner).get(url, {"until": "2999-12-31T00:00:00Z"}).status_code == 200
