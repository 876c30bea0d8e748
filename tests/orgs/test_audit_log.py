"""The audit log: one event per sensitive change, and the page/API/CSV that show it."""

import csv
import io
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from orgs import services
from orgs.models import AuditEvent, Membership, Organization
from tests.accounts.factories import UserFactory

from .conftest import IP, UA, assert_envelope, events

# --- every sensitive change writes exactly one event ---------------------------------------


def _org_created(s):
    response = s.api(s.owner).post("/api/orgs", {"name": "Initech"})
    org = Organization.objects.get(public_id=response.json()["id"])
    return (
        response,
        s.owner,
        ("organization", org.public_id),
        None,
        {"name": "Initech", "slug": "initech"},
    )


def _org_renamed(s):
    response = s.api(s.owner).patch(f"/api/orgs/{s.org.public_id}", {"name": "Acme Two"})
    return (
        response,
        s.owner,
        ("organization", s.org.public_id),
        {"name": "Acme Inc"},
        {"name": "Acme Two"},
    )


def _org_deleted(s):
    response = s.api(s.owner).delete(f"/api/orgs/{s.org.public_id}", {"confirm_slug": "acme-inc"})
    members = sorted([s.owner.email, s.dev.user.email])
    return response, s.owner, ("organization", s.org.public_id), {"members": members}, None


def _ownership_transferred(s):
    response = s.api(s.owner).post(
        f"/api/orgs/{s.org.public_id}/transfer", {"member_id": s.dev.public_id}
    )
    return (
        response,
        s.owner,
        ("member", s.dev.public_id),
        {"owner": s.owner.email, "new_owner_role": "developer"},
        {"owner": s.dev.user.email, "previous_owner_role": "admin"},
    )


def _member_invited(s):
    response = s.api(s.owner).post(
        f"/api/orgs/{s.org.public_id}/invitations", {"email": "n@example.com", "role": "viewer"}
    )
    return (
        response,
        s.owner,
        ("invitation", response.json()["id"]),
        None,
        {
            "email": "n@example.com",
            "role": "viewer",
        },
    )


def _member_joined(s):
    response = s.web(s.kim).post(f"/invitations/{s.kim_token}")
    membership = Membership.objects.get(organization=s.org, user=s.kim)
    after = {"role": "billing", "invitation": s.kim_invitation.public_id}
    return response, s.kim, ("member", membership.public_id), None, after


def _member_role_changed(s):
    response = s.api(s.owner).patch(
        f"/api/orgs/{s.org.public_id}/members/{s.dev.public_id}", {"role": "billing"}
    )
    return (
        response,
        s.owner,
        ("member", s.dev.public_id),
        {"role": "developer"},
        {"role": "billing"},
    )


def _member_removed(s):
    response = s.api(s.owner).delete(f"/api/orgs/{s.org.public_id}/members/{s.dev.public_id}")
    return response, s.owner, ("member", s.dev.public_id), {"role": "developer"}, None


def _member_left(s):
    response = s.api(s.dev.user).post(f"/api/orgs/{s.org.public_id}/leave")
    return response, s.dev.user, ("member", s.dev.public_id), {"role": "developer"}, None


def _invitation_revoked(s):
    url = f"/api/orgs/{s.org.public_id}/invitations/{s.invitation.public_id}"
    response = s.api(s.owner).delete(url)
    return (
        response,
        s.owner,
        ("invitation", s.invitation.public_id),
        {
            "email": "pending@example.com",
            "role": "viewer",
        },
        None,
    )


def _invitation_resent(s):
    url = f"/api/orgs/{s.org.public_id}/invitations/{s.invitation.public_id}/resend"
    response = s.api(s.owner).post(url)
    return response, s.owner, ("invitation", s.invitation.public_id), None, None


CHANGES = {
    "org.created": _org_created,
    "org.renamed": _org_renamed,
    "org.deleted": _org_deleted,
    "org.ownership_transferred": _ownership_transferred,
    "member.invited": _member_invited,
    "member.joined": _member_joined,
    "member.role_changed": _member_role_changed,
    "member.removed": _member_removed,
    "member.left": _member_left,
    "invitation.revoked": _invitation_revoked,
    "invitation.resent": _invitation_resent,
}


class Setup:
    def __init__(self, **kw):
        self.__dict__.update(kw)


@pytest.mark.parametrize("action", CHANGES)
def test_each_sensitive_change_writes_one_complete_event(action, owner, org, member, api, web):
    s = Setup(owner=owner, org=org, dev=member("developer"), api=api, web=web)
    s.invitation, _ = services.invitation_create(
        organization=org, actor=owner, email="pending@example.com", role="viewer"
    )
    s.kim = UserFactory(email="kim@example.com")
    s.kim_invitation, s.kim_token = services.invitation_create(
        organization=org, actor=owner, email=s.kim.email, role="billing"
    )
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()

    response, actor, (target_type, target_id), before, after = CHANGES[action](s)

    assert response.status_code < 400, response.content
    new = list(AuditEvent.objects.filter(pk__gt=last).order_by("pk"))
    matching = [e for e in new if e.action == action]
    assert len(matching) == 1, [e.action for e in new]
    event = matching[0]
    assert event.actor == actor
    assert event.actor_label == actor.email
    assert (event.target_type, event.target_id) == (target_type, target_id)
    assert event.target_label
    if action == "org.deleted":
        event.before["members"] = sorted(event.before["members"])
    assert event.before == before
    assert event.after == after
    assert event.ip_address == IP
    assert event.user_agent == UA
    assert event.request_id == response["X-Request-ID"]
    # Nothing else sneaks in: only org.created brings its companion member.joined.
    expected_extra = {"org.created": ["member.joined"]}.get(action, [])
    assert sorted(e.action for e in new if e is not event) == expected_extra


def test_service_calls_outside_a_request_record_no_origin(owner, org):
    event = events(org, "org.created").get()
    assert (event.ip_address, event.user_agent, event.request_id) == (None, "", "")


# --- the audit page ------------------------------------------------------------------------

ROW = re.compile(r'<tr data-action="([^"]+)" data-actor="([^"]*)">')


def rows(response) -> list[tuple[str, str]]:
    return ROW.findall(response.content.decode())


def seed(org, **kw):
    """Insert history directly (inserts are what the application does; the dates are
    chosen here so that date filters have something to bite on)."""
    return AuditEvent.objects.create(organization=org, **kw)


@pytest.fixture
def history(org):
    """A known history on top of the founding events (which are dated now)."""
    day = lambda d: datetime(2025, 1, d, 12, tzinfo=UTC)  # noqa: E731
    seed(org, action="member.invited", actor_label="alice@example.com", created_at=day(10))
    seed(org, action="member.removed", actor_label="bob@example.com", created_at=day(15))
    seed(org, action="org.renamed", actor_label="alice@example.com", created_at=day(15))
    seed(org, action="invitation.revoked", actor_label="alice@example.com", created_at=day(20))
    return org


def test_page_lists_events_newest_first(owner, history, web):
    response = web(owner, org=history).get("/settings/organization/audit")
    assert response.status_code == 200
    assert rows(response) == [
        ("member.joined", owner.email),
        ("org.created", owner.email),
        ("invitation.revoked", "alice@example.com"),
        ("org.renamed", "alice@example.com"),
        ("member.removed", "bob@example.com"),
        ("member.invited", "alice@example.com"),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "member."}, ["member.joined", "member.removed", "member.invited"]),
        ({"action": "org.renamed"}, ["org.renamed"]),
        ({"actor": "ALICE"}, ["invitation.revoked", "org.renamed", "member.invited"]),
        ({"since": "2025-01-15", "until": "2025-01-15"}, ["org.renamed", "member.removed"]),
        ({"until": "2025-01-14"}, ["member.invited"]),
        ({"since": "2025-01-16", "action": "member."}, ["member.joined"]),
        ({"actor": "alice", "action": "member."}, ["member.invited"]),
        ({"action": "billing."}, []),
    ],
)
def test_page_filters(owner, history, web, query, expected):
    response = web(owner, org=history).get("/settings/organization/audit", query)
    assert response.status_code == 200
    assert [action for action, _ in rows(response)] == expected
    if not expected:
        assert b"No events match these filters." in response.content


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2025-01-20", "until": "2025-01-10"}, b"The end date is before the start date."),
        ({"since": "yesterday"}, b"Enter a valid date."),
        ({"until": "2025-02-31"}, b"Enter a valid date."),
    ],
)
def test_page_bad_filters_are_field_errors(owner, history, web, query, message):
    client = web(owner, org=history)
    for url in ("/settings/organization/audit", "/settings/organization/audit.csv"):
        response = client.get(url, query)
        assert response.status_code == 400
        assert message in response.content
        assert response["Content-Type"].startswith("text/html")


def test_page_is_paginated_and_htmx_gets_only_the_results(owner, org, web):
    for n in range(25):  # plus the two founding events: 27
        seed(org, action=f"test.event{n:02d}", actor_label="x@example.com")
    client = web(owner, org=org)

    first = client.get("/settings/organization/audit")
    second = client.get("/settings/organization/audit", {"page": 2})

    assert len(rows(first)) == 25
    assert len(rows(second)) == 2
    assert b"Page 1 of 2" in first.content
    assert b'href="?page=2"' in first.content
    assert {a for a, _ in rows(first)}.isdisjoint({a for a, _ in rows(second)})

    partial = client.get("/settings/organization/audit", {"page": 2}, HTTP_HX_REQUEST="true")
    content = partial.content.decode()
    assert partial.status_code == 200
    assert content.lstrip().startswith('<section class="card" id="audit-results"')
    assert "<html" not in content
    assert "context-switcher" not in content
    assert rows(partial) == rows(second)
    assert 'hx-get="?page=1"' in content

    filtered = client.get("/settings/organization/audit", {"action": "test."})
    assert b"Page 1 of 1 \xc2\xb7 25 events" in filtered.content


def test_page_csv_exports_the_filtered_view(owner, history, web):
    response = web(owner, org=history).get(
        "/settings/organization/audit.csv", {"actor": "alice", "since": "2025-01-12"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert re.match(
        r'attachment; filename="hypereal-audit-acme-inc-\d{4}-\d{2}-\d{2}\.csv"',
        response["Content-Disposition"],
    )
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["action"], r["actor"]) for r in table] == [
        ("invitation.revoked", "alice@example.com"),
        ("org.renamed", "alice@example.com"),
    ]


# --- the audit API -------------------------------------------------------------------------


def test_api_filters_and_pages_with_a_cursor(owner, org, api):
    for n in range(26):
        seed(org, action=f"test.event{n:02d}", actor_label="x@example.com")
    client = api(owner)
    url = f"/api/orgs/{org.public_id}/audit"

    seen, page = [], client.get(url, {"action": "test.", "limit": 10})
    pages = 0
    while True:
        assert page.status_code == 200, page.content
        body = page.json()
        seen += [e["action"] for e in body["results"]]
        pages += 1
        if not body["next"]:
            break
        query = parse_qs(urlsplit(body["next"]).query)
        assert query["action"] == ["test."]
        page = client.get(url, {k: v[0] for k, v in query.items()})
    assert pages == 3
    assert seen == [f"test.event{n:02d}" for n in reversed(range(26))]


def test_api_event_shape_and_date_filters(owner, history, api):
    client = api(owner)
    url = f"/api/orgs/{history.public_id}/audit"

    response = client.get(url, {"since": "2025-01-15T00:00:00Z", "until": "2025-01-16T00:00:00Z"})

    results = response.json()["results"]
    assert [e["action"] for e in results] == ["org.renamed", "member.removed"]
    assert set(results[0]) == {
        "id", "time", "action", "actor", "target", "before", "after",
        "ip_address", "user_agent", "request_id",
    }  # fmt: skip
    actor_only = client.get(url, {"actor": "bob"}).json()["results"]
    assert [e["action"] for e in actor_only] == ["member.removed"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2025-01-20T00:00:00Z", "until": "2025-01-10T00:00:00Z"}, "until"),
        ({"since": "not-a-date"}, "since"),
        ({"until": "2025-13-01"}, "until"),
    ],
)
def test_api_bad_filters_are_field_errors(owner, history, api, query, field):
    for path in ("audit", "audit/export"):
        response = api(owner).get(f"/api/orgs/{history.public_id}/{path}", query)
        error = assert_envelope(response, 400, "validation_error")
        assert field in error["fields"], error


def test_api_export_is_the_filtered_view_as_csv(owner, history, api):
    response = api(owner).get(f"/api/orgs/{history.public_id}/audit/export", {"action": "member."})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    table = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in table] == ["member.joined", "member.removed", "member.invited"]
    assert table[0]["actor"] == owner.email
    assert table[0]["after"] == '{"role": "owner"}'


def test_another_orgs_events_never_show(owner, org, api, web, outsider):
    theirs = Organization.objects.get(memberships__user=outsider, kind="team")
    seed(theirs, action="secret.thing", actor_label=outsider.email)
    assert b"secret.thing" not in web(owner, org=org).get("/settings/organization/audit").content
    api_body = api(owner).get(f"/api/orgs/{org.public_id}/audit").content
    assert b"secret.thing" not in api_body


def test_an_event_without_a_person_names_the_console_in_the_readers_language(owner, org, web):
    seed(org, action="apikey.disabled", actor_label="system")
    client = web(owner, org=org)
    english = client.get("/settings/organization/audit", HTTP_ACCEPT_LANGUAGE="en")
    assert '<td class="break">the console</td>' in english.content.decode()
    owner.language = "ar"
    owner.save(update_fields=["language"])
    arabic = client.get("/settings/organization/audit").content.decode()
    assert '<td class="break">system</td>' not in arabic
    assert '<td class="break">the console</td>' not in arabic
    assert re.search(r'<td class="break">[\u0600-\u06ff ]+</td>', arabic)
