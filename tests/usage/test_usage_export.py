"""``/api/api-usage/export``: columns, formula cells, the role table, the audit event."""

import csv
import io
from decimal import Decimal

import pytest

from hypereal_site.csvstream import _python_rows, csv_rows
from orgs.models import AuditEvent
from orgs.permissions import Role
from tests.apikeys.factories import join, key_make, personal, team
from tests.site.pages import in_org
from tests.usage.analytics import ev
from usage.models import UsageEvent
from usage.selectors import USAGE_CSV_COLUMNS, usage_events, usage_filter_parse

pytestmark = pytest.mark.django_db

COLUMNS = [
    "created_at", "request_id", "key_id", "key_name", "endpoint", "model", "provider",
    "status_code", "latency_ms", "input_tokens", "output_tokens", "images", "seconds", "clips",
    "requests", "cost_credits", "cost_usd",
]  # fmt: skip


def download(client, query: str = ""):
    response = client.get(f"/api/api-usage/export{query}")
    body = b"".join(response.streaming_content).decode() if response.status_code == 200 else ""
    return response, list(csv.reader(io.StringIO(body)))


def test_export_columns_values_and_audit(user, client_for):
    org = personal(user)
    key, _ = key_make(org=org, actor=user, name='=HYPERLINK("http://evil","x")')
    ev(key, cost=1234, model="gpt-5.5", request_id="a1", status_code=200)
    ev(key, cost=2_000_000, model="flux", request_id="a2", status_code=500, provider="-x")
    ev(key, cost=5, model="other", request_id="a3", status_code=404)
    response, rows = download(client_for(user), "?status=2xx&days=7")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="hypereal-usage-')
    assert rows[0] == COLUMNS
    assert len(rows) == 2
    row = dict(zip(COLUMNS, rows[1], strict=True))
    assert row["request_id"] == "a1"
    assert row["key_name"] == "'" + key.name  # a spreadsheet shows it, never runs it
    assert row["key_id"] == key.public_id
    assert row["cost_credits"] == "0.001234"
    assert row["cost_usd"] == "0.00001234"
    assert row["status_code"] == "200"
    event = AuditEvent.objects.get(organization=org, action="usage.exported")
    assert event.actor == user
    assert event.after["rows"] == 1
    assert event.after["status"] == "2xx" and event.after["days"] == 7
    assert event.after["from_at"] < event.after["to_at"]


def test_export_matches_the_database_and_neutralises_every_text_cell(user, client_for):
    org = personal(user)
    key, _ = key_make(org=org, actor=user, name="plain")
    ev(key, cost=10, provider="@sum", model="+m", endpoint="\tx", request_id="-r")
    ev(key, cost=3_000_001)
    _response, rows = download(client_for(user))
    body = [dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]]
    db = UsageEvent.objects.filter(organization=org).order_by("occurred_at", "pk")
    assert [r["request_id"] for r in body] == ["'" + e.request_id if e.request_id == "-r"
                                               else e.request_id for e in db]  # fmt: skip
    hostile = body[0]
    assert hostile["provider"] == "'@sum" and hostile["model"] == "'+m"
    assert hostile["endpoint"] == "'\tx"
    assert sum(Decimal(r["cost_credits"]) for r in body) == Decimal("3.000011")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.ADMIN, True), (Role.BILLING, True), (Role.VIEWER, True), (Role.DEVELOPER, False)],
)
def test_export_role_table(owner, client_for, role, allowed):
    org = team(owner)
    key, _ = key_make(org=org, actor=owner)
    ev(key)
    client = in_org(client_for(join(org, role)), org)
    response, rows = download(client)
    if allowed:
        assert response.status_code == 200 and len(rows) == 2
    else:
        assert response.status_code == 403
        assert response.json()["error"]["type"] == "permission_denied"
        assert not AuditEvent.objects.filter(action="usage.exported").exists()


def test_export_refuses_bad_parameters_and_other_tenants_keys(user, client_for):
    other = team(user, "Other")
    their_key, _ = key_make(org=other, actor=user)
    client = client_for(user)
    response, _rows = download(client, "?days=400")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_parameter"
    response, _rows = download(client, f"?key={their_key.public_id}")
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="usage.exported").exists()


def test_copy_and_iterator_write_the_same_bytes(user):
    """On PostgreSQL the export comes from COPY; it must match the Python path byte for
    byte, cost_usd and formula cells included (elsewhere both sides are the iterator)."""
    org = personal(user)
    key, _ = key_make(org=org, actor=user, name='@evil,"quoted"\nname')
    for cost in (0, 1, 1234, 999_999_999_999, 100_000_000):
        ev(key, cost=cost, provider="=cmd", model="m,1")
    events = usage_events(usage_filter_parse(organization=org, params={})).order_by(
        "occurred_at", "pk"
    )
    produced = "".join(
        p.decode() if isinstance(p, bytes) else p for p in csv_rows(events, USAGE_CSV_COLUMNS)
    )
    _header, _, body = produced.partition("\n")
    assert body == "".join(_python_rows(events, USAGE_CSV_COLUMNS))
    usd = [r[-1] for r in csv.reader(io.StringIO(body))]
    assert usd == ["0.00000000", "0.00000001", "0.00001234", "9999.99999999", "1.00000000"]


def test_head_is_not_an_export(user, client_for):
    response = client_for(user).head("/api/api-usage/export")
    assert response.status_code == 405
    assert not AuditEvent.objects.filter(action="usage.exported").exists()
