"""``manage.py ledger_check``: silent success on a consistent database, a non-zero exit
naming the wallet when a balance or a held amount no longer matches its rows."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from billing import ledger
from billing.models import Wallet

from .factories import CREDIT, fund, new_key, personal_wallet, team_wallet

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallets():
    busy = team_wallet(name="Busy Corp")
    fund(busy, 100 * CREDIT)
    hold, _ = ledger.hold_place(wallet=busy, amount_microcredits=CREDIT, reference="cheap")
    ledger.hold_capture(hold=hold, amount_microcredits=CREDIT // 2)
    ledger.ledger_post(
        wallet=busy, amount_microcredits=-150 * CREDIT, kind="usage", idempotency_key=new_key()
    )
    fund(busy, 80 * CREDIT)
    ledger.hold_place(wallet=busy, amount_microcredits=4 * CREDIT, reference="open")
    quiet = personal_wallet()  # no entries at all
    return busy, quiet


def check() -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("ledger_check", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def tamper(wallet: Wallet, **columns: int) -> None:
    """Change a wallet row behind the ledger's back (wallets are not append-only)."""
    assignments = ", ".join(f"{column} = {column} + %s" for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE billing_wallet SET {assignments} WHERE id = %s",  # noqa: S608 — fixed names
            [*columns.values(), wallet.pk],
        )


def test_a_consistent_ledger_passes(wallets):
    out, err = check()

    assert "Ledger consistent: 2 wallets." in out
    assert err == ""


def test_a_tampered_balance_fails_naming_the_wallet(wallets):
    busy, quiet = wallets
    tamper(busy, balance_microcredits=1)

    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 ledger mismatch"):
        call_command("ledger_check", stdout=out, stderr=err)

    report = err.getvalue()
    assert f"wallet {busy.public_id} (Busy Corp)" in report
    assert "balance 29500001 µcr != sum of entries 29500000 µcr" in report
    assert quiet.public_id not in report


def test_a_tampered_held_amount_fails_naming_the_wallet(wallets):
    busy, quiet = wallets
    tamper(quiet, held_microcredits=3)

    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError):
        call_command("ledger_check", stdout=out, stderr=err)

    report = err.getvalue()
    assert f"wallet {quiet.public_id}" in report
    assert "held 3 µcr != open holds 0 µcr" in report
    assert busy.public_id not in report


def test_a_hold_released_behind_the_ledgers_back_is_caught(wallets):
    busy, _quiet = wallets
    busy.holds.filter(reference="open").update(status="released")

    with pytest.raises(CommandError):
        check()
