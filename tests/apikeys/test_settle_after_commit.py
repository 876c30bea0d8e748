"""Settlements with the reservation store are gathered per transaction: an ingestion batch
moves a wallet per owner and the spend of each key, and they reach the store in one call
after the commit, with exactly what the transaction kept (a savepoint rolled back takes its
own part away)."""

import pytest
from django.db import transaction

from apikeys import caps, reservations

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """Every call that reaches ``settle_or_journal`` (which still runs, against the store)."""
    calls = []
    real = reservations.settle_or_journal

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(reservations, "settle_or_journal", spy)
    return calls


def test_one_transaction_is_one_call(sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        caps.settle_after_commit(wallets={901: -5})
        caps.settle_after_commit(wallets={902: -7, 901: -3}, spend={(11, "2026-11"): 8})
        caps.settle_after_commit(ids=["rsv_a"], spend={(11, "2026-11"): 2, (12, "2026-11"): 1})
        assert sent == []  # nothing before the commit
    assert len(callbacks) == 1
    assert sent == [
        {
            "ids": ["rsv_a"],
            "spend": {(11, "2026-11"): 10, (12, "2026-11"): 1},
            "wallets": {901: -8, 902: -7},
        }
    ]


def test_a_credit_drops_the_wallet_counter_whatever_the_order(
    sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        caps.settle_after_commit(wallets={901: -5, 902: 10, 903: 0})
        caps.settle_after_commit(wallets={901: 4, 902: -3, 903: -1})
    assert sent == [{"ids": [], "spend": {}, "wallets": {901: 0, 902: 0, 903: 0}}]


def test_a_rolled_back_savepoint_takes_its_part_away(sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        caps.settle_after_commit(wallets={901: -5})
        try:
            with transaction.atomic():
                caps.settle_after_commit(wallets={901: -100}, ids=["rsv_gone"])
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        with transaction.atomic():  # a savepoint that is kept
            caps.settle_after_commit(wallets={901: -2})
        caps.settle_after_commit(wallets={901: -1})
    moved = sum(call["wallets"].get(901, 0) for call in sent)
    assert moved == -8
    assert all("rsv_gone" not in call["ids"] for call in sent)


def test_a_settlement_after_one_was_sent_is_sent_again(sent, django_capture_on_commit_callbacks):
    for delta in (-5, -6):
        with django_capture_on_commit_callbacks(execute=True):
            caps.settle_after_commit(wallets={901: delta})
    assert [call["wallets"] for call in sent] == [{901: -5}, {901: -6}]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_it_is_sent_at_once(sent):
    caps.settle_after_commit(wallets={901: -5})
    assert sent == [{"ids": [], "spend": {}, "wallets": {901: -5}}]


def test_a_released_savepoints_settlement_is_gathered_with_what_follows(
    sent, django_capture_on_commit_callbacks
):
    """As on SQLite, where the ledger moves a wallet inside a savepoint of its own."""
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            caps.settle_after_commit(wallets={901: -5})
        caps.settle_after_commit(ids=["rsv_b"], spend={(11, "2026-11"): 5})
    assert sent == [{"ids": ["rsv_b"], "spend": {(11, "2026-11"): 5}, "wallets": {901: -5}}]


def test_a_deeper_savepoint_does_not_add_to_a_shallower_settlement(
    sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        caps.settle_after_commit(wallets={901: -5})
        with transaction.atomic():
            caps.settle_after_commit(wallets={901: -3})
    assert sorted(call["wallets"][901] for call in sent) == [-5, -3]
