"""``balance.low`` commits or rolls back with the ledger movement that crossed the alert
threshold, on PostgreSQL, where ``ledger_post`` outside a transaction is one statement in
autocommit: the movement that crosses is posted in a transaction instead, together with the
alert flag and the webhooks' outbox row.

The proof of "one transaction" is PostgreSQL's own: a row's ``xmin`` is the id of the
transaction that wrote it. A spy on ``balance_low`` (connected after the webhooks' receiver,
so it runs after the outbox row is written) notes the current transaction id and the
``xmin`` of the wallet row and of the outbox row as they are at that moment (delivery
updates the outbox row after commit); the ledger entry, never updated, keeps its own.
"""

import pytest
from django.db import connection
from django.test import override_settings

from billing import ledger
from billing.models import LedgerEntry, Wallet
from billing.services import wallet_set_low_balance_threshold
from billing.signals import balance_low
from tests.webhooks.factories import endpoint_make
from tests.webhooks.receiver import Receiver
from webhooks.models import WebhookMessage

from .factories import CREDIT, fund, new_key, personal_wallet, run_concurrently

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the autocommit path of ledger_post exists on PostgreSQL only",
    ),
]


class Boom(Exception):
    pass


def _one(sql: str, params=()) -> str:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def xmin(table: str, pk: int) -> str:
    return _one(f"SELECT xmin::text FROM {table} WHERE id = %s", [pk])  # noqa: S608


@pytest.fixture
def spy():
    """Each ``balance_low`` as the transaction that sent it saw it."""
    seen: list[dict] = []

    def note(sender, *, organization_id, **kwargs):
        message = (
            WebhookMessage.objects.filter(organization_id=organization_id, event_type="balance.low")
            .order_by("-id")
            .first()
        )
        wallet = Wallet.objects.get(organization_id=organization_id)
        seen.append(
            {
                "in_transaction": connection.in_atomic_block,
                "xid": _one("SELECT pg_current_xact_id()::text"),
                "wallet_xmin": xmin("billing_wallet", wallet.pk),
                "message_xmin": xmin("webhooks_webhookmessage", message.pk) if message else None,
            }
        )

    balance_low.connect(note, dispatch_uid="test-balance-low-spy")
    yield seen
    balance_low.disconnect(dispatch_uid="test-balance-low-spy")


@pytest.fixture
def receiver():
    r = Receiver()
    with override_settings(ALLOW_PRIVATE_OUTBOUND=True):
        yield r
    r.close()


@pytest.fixture
def wallet(receiver):
    """100 credits, an alert below 20, and an endpoint subscribed to ``balance.low``."""
    wallet = personal_wallet()
    fund(wallet, 100 * CREDIT)
    owner = wallet.organization.personal_for
    endpoint_make(wallet.organization, owner, receiver.url(), ["balance.low"])
    return wallet_set_low_balance_threshold(
        wallet=wallet, actor=owner, threshold_microcredits=20 * CREDIT
    )


def debit(wallet: Wallet, credits: int, key: str | None = None) -> LedgerEntry:
    assert not connection.in_atomic_block  # the autocommit path is the one under test
    return ledger.ledger_post(
        wallet=wallet,
        amount_microcredits=-credits * CREDIT,
        kind=LedgerEntry.Kind.USAGE,
        idempotency_key=key or new_key("usage"),
    )


def low_messages(wallet: Wallet) -> list[WebhookMessage]:
    return list(
        WebhookMessage.objects.filter(organization=wallet.organization, event_type="balance.low")
    )


def test_a_committed_crossing_writes_one_outbox_row_in_the_movements_transaction(
    wallet, receiver, spy
):
    quiet = debit(wallet, 70)  # 30 left: above the threshold, nothing to say
    assert low_messages(wallet) == []

    crossing = debit(wallet, 15)  # 15 left: crossed
    [message] = low_messages(wallet)
    assert message.body.startswith('{"type":"balance.low"')
    assert '"data":{"balanceCredits":15,"thresholdCredits":20}' in message.body
    wallet.refresh_from_db()
    assert wallet.low_balance_alerted and wallet.balance_microcredits == 15 * CREDIT
    # One transaction wrote the entry, flipped the flag and wrote the outbox row.
    written_by = xmin("billing_ledgerentry", crossing.pk)
    assert spy == [
        {
            "in_transaction": True,
            "xid": written_by,
            "wallet_xmin": written_by,
            "message_xmin": written_by,
        }
    ]
    # A movement that did not cross still went alone, in its own (autocommit) statement.
    assert xmin("billing_ledgerentry", quiet.pk) != written_by

    # Further down is the same drop: no second row. The receiver got the one message.
    debit(wallet, 5)
    assert len(low_messages(wallet)) == 1 and len(spy) == 1
    (got,) = receiver.wait_for(1)
    assert b'"type":"balance.low"' in got.body


def test_a_crossing_that_rolls_back_leaves_no_outbox_row_and_no_movement(wallet, spy):
    debit(wallet, 70)
    key = new_key("usage")

    def fail_after_the_outbox(sender, **kwargs):
        # Runs after the webhooks' receiver (connected at start-up) wrote its row.
        raise Boom

    balance_low.connect(fail_after_the_outbox, dispatch_uid="test-balance-low-boom")
    try:
        with pytest.raises(Boom):
            debit(wallet, 15, key=key)
    finally:
        balance_low.disconnect(dispatch_uid="test-balance-low-boom")
    # The outbox row had been written when it failed, in the movement's transaction.
    [seen] = spy
    assert seen["in_transaction"] and seen["message_xmin"] == seen["xid"]
    spy.clear()

    assert low_messages(wallet) == []
    assert not LedgerEntry.objects.filter(idempotency_key=key).exists()
    wallet.refresh_from_db()
    assert wallet.balance_microcredits == 30 * CREDIT
    assert not wallet.low_balance_alerted and wallet.low_balance_alert_count == 0

    # The same movement again commits: exactly one row, with it.
    entry = debit(wallet, 15, key=key)
    assert len(low_messages(wallet)) == 1
    [seen] = spy
    assert seen["message_xmin"] == seen["xid"] == xmin("billing_ledgerentry", entry.pk)
    # A replay of the key moves nothing and says nothing more.
    assert debit(wallet, 15, key=key).pk == entry.pk
    assert len(low_messages(wallet)) == 1
    wallet.refresh_from_db()
    assert wallet.balance_microcredits == 15 * CREDIT


def test_climbing_back_resets_the_flag_with_the_credit_and_the_next_drop_alerts_again(wallet, spy):
    debit(wallet, 85)  # 15 left: alert 1
    topup = fund(wallet, 50 * CREDIT)  # 65: above again
    wallet.refresh_from_db()
    assert not wallet.low_balance_alerted
    # The flag went back with the credit, in its transaction (nothing touched it since).
    assert xmin("billing_wallet", wallet.pk) == xmin("billing_ledgerentry", topup.pk)
    second = debit(wallet, 50)  # 15 again: a new crossing, a new message
    assert len(low_messages(wallet)) == 2
    assert spy[-1]["xid"] == spy[-1]["message_xmin"] == xmin("billing_ledgerentry", second.pk)
    wallet.refresh_from_db()
    assert wallet.low_balance_alert_count == 2


def test_concurrent_debits_crossing_together_write_one_row(wallet, spy):
    debit(wallet, 70)  # 30 left
    # Eight debits of 3 credits race: 30 → 6; the one that takes it below 20 alerts.
    results = run_concurrently(lambda i: debit(Wallet.objects.get(pk=wallet.pk), 3), 8)
    assert all(isinstance(r, LedgerEntry) for r in results), results
    wallet.refresh_from_db()
    assert wallet.balance_microcredits == 6 * CREDIT
    assert len(low_messages(wallet)) == 1
    [seen] = spy
    crossing = [e for e in results if xmin("billing_ledgerentry", e.pk) == seen["xid"]]
    assert len(crossing) == 1 and seen["message_xmin"] == seen["xid"]
    # It is the debit that first left the balance under the threshold: 18 credits.
    assert crossing[0].balance_after_microcredits == 18 * CREDIT
