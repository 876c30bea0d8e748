"""``COPY`` and the Python formatter print the same CSV, cell for cell, for every kind of
column the exports use (integers, money, times with and without a fraction, formula-looking
and empty text); on PostgreSQL the rows come in large chunks, not one write per row."""

from datetime import UTC, datetime

import pytest
from django.db import connection

from hypereal_site import csvstream
from hypereal_site.csvstream import _python_rows, csv_rows
from tests.apikeys.factories import key_make, personal
from tests.usage.analytics import ev
from usage.models import UsageEvent
from usage.selectors import USAGE_CSV_COLUMNS

pytestmark = pytest.mark.django_db


def body(parts) -> str:
    text = "".join(p.decode() if isinstance(p, bytes) else p for p in parts)
    return text.partition("\n")[2]


@pytest.fixture
def key(user):
    key, _ = key_make(org=personal(user), actor=user)
    return key


def test_copy_and_python_print_the_same_cells(key):
    at = datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC)
    ev(key, cost=-1234, at=at, input_tokens=-5, provider="=cmd")
    ev(key, cost=0, at=at.replace(microsecond=120000), provider="")
    ev(key, cost=1, at=at.replace(microsecond=1), provider="-x", model="+m")
    ev(key, cost=10**15 + 7, at=at.replace(second=6), output_tokens=2**40, provider="@a")
    events = UsageEvent.objects.filter(key=key).order_by("occurred_at", "pk")
    produced = body(csv_rows(events, USAGE_CSV_COLUMNS))
    assert produced == "".join(_python_rows(events, USAGE_CSV_COLUMNS))
    lines = produced.splitlines()
    assert lines[0].startswith("2026-11-02T03:04:05+00:00,")
    assert ",'-5," in lines[0] and ",-0.001234,-0.00001234" in lines[0]
    assert lines[1].startswith("2026-11-02T03:04:05.000001+00:00,")
    assert lines[2].startswith("2026-11-02T03:04:05.120000+00:00,")
    assert lines[2].endswith(",0.000000,0.00000000")
    assert lines[3].endswith(",1000000000.000007,10000000.00000007")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY exists only on PostgreSQL")
def test_copy_rows_come_in_chunks(key, monkeypatch):
    monkeypatch.setattr(csvstream, "CHUNK_BYTES", 2000)
    for _ in range(60):
        ev(key)
    events = UsageEvent.objects.filter(key=key).order_by("occurred_at", "pk")
    parts = list(csvstream._copy_rows(events, USAGE_CSV_COLUMNS))
    assert 2 <= len(parts) < 60
    assert all(len(p) >= 2000 for p in parts[:-1])
    assert b"".join(parts).count(b"\n") == 60
