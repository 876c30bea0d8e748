"""The statement CSV goes through ``stream_csv``: text a customer could have influenced
(descriptions, references) is neutralised against formula injection, while amounts we
format stay numbers, negative ones included."""

import csv
import io
from datetime import UTC, datetime

import pytest

from billing.models import LedgerEntry
from tests.billing.test_pages import personal_wallet_of, post

pytestmark = pytest.mark.django_db


def test_formula_descriptions_are_text_and_amounts_stay_numbers(user, in_context):
    wallet = personal_wallet_of(user)
    when = datetime(2026, 4, 10, 9, 0, tzinfo=UTC)
    post(wallet, "20", when=when, description='=HYPERLINK("http://evil")')
    post(wallet, "-1.5", kind=LedgerEntry.Kind.USAGE, when=when, description="@SUM(A1:A9)")

    response = in_context(user).get("/billing/statement.csv?month=2026-04")

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    movements = [r for r in rows if r["kind"] not in {"opening", "closing"}]
    assert [r["description"] for r in movements] == [
        '\'=HYPERLINK("http://evil")',
        "'@SUM(A1:A9)",
    ]
    assert [r["amount_credits"] for r in movements] == ["20.000000", "-1.500000"]
    assert rows[-1]["balance_credits"] == "18.500000"
    assert rows[0]["time"] == "2026-04-01T00:00:00+00:00"
