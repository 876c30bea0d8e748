"""Ledger entries are append-only.

On PostgreSQL a trigger refuses UPDATE and DELETE outright, whoever asks (raw SQL, the
ORM); the one change it lets through is nulling ``actor_id`` when that user's account is
deleted. SQLite has no such trigger: there the guarantee is that no code path of the
project changes an entry — the admin refuses to, and deleting the actor only nulls the
link. The tests branch on the vendor instead of skipping, and check the rows either way.
"""

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.test import Client

from accounts.services import user_delete
from billing.models import LedgerEntry
from billing.services import wallet_adjust

from .factories import CREDIT, fund, new_key, personal_wallet

pytestmark = pytest.mark.django_db

POSTGRES = "postgresql"


def rows() -> list[tuple]:
    return list(
        LedgerEntry.objects.order_by("pk").values_list(
            "pk",
            "wallet_id",
            "amount_microcredits",
            "kind",
            "idempotency_key",
            "balance_after_microcredits",
            "actor_label",
        )
    )


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser(
        email="ops@hypereal.example", password="x-very-long-passphrase"
    )


@pytest.fixture
def entry(staff):
    wallet = personal_wallet()
    fund(wallet, 10 * CREDIT)
    return wallet_adjust(
        wallet=wallet,
        actor=staff,
        amount_microcredits=5 * CREDIT,
        reason="Outage credit, ticket 4411",
        kind=LedgerEntry.Kind.GRANT,
        idempotency_key=new_key("staff"),
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE billing_ledgerentry SET amount_microcredits = 0 WHERE id = %s",
        "UPDATE billing_ledgerentry SET actor_label = 'someone else' WHERE id = %s",
        # Nulling the actor is allowed only on its own, never as cover for another change.
        "UPDATE billing_ledgerentry SET actor_id = NULL, amount_microcredits = 1 WHERE id = %s",
        "DELETE FROM billing_ledgerentry WHERE id = %s",
    ],
)
def test_raw_sql_cannot_change_or_delete_an_entry_on_postgresql(entry, statement):
    before = rows()
    if connection.vendor == POSTGRES:
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [entry.pk])
    else:
        # No trigger on SQLite: what protects the rows there is that nothing in the
        # project issues such a statement (the admin and service tests below).
        assert connection.vendor == "sqlite"
    assert rows() == before


def test_the_orm_cannot_change_or_delete_an_entry_on_postgresql(entry):
    before = rows()
    if connection.vendor == POSTGRES:
        with pytest.raises(DatabaseError), transaction.atomic():
            LedgerEntry.objects.filter(pk=entry.pk).update(description="rewritten")
        with pytest.raises(DatabaseError), transaction.atomic():
            LedgerEntry.objects.filter(pk=entry.pk).delete()
    assert rows() == before


def test_the_admin_cannot_change_or_delete_an_entry(entry, staff):
    client = Client()
    client.force_login(staff)
    before = rows()
    base = f"/admin/billing/ledgerentry/{entry.pk}"

    assert client.get(f"{base}/change/").status_code == 200  # staff may read it
    changed = client.post(
        f"{base}/change/",
        {"amount_microcredits": "0", "description": "rewritten", "kind": "grant"},
    )
    deleted = client.post(f"{base}/delete/", {"post": "yes"})
    bulk = client.post(
        "/admin/billing/ledgerentry/",
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    added = client.get("/admin/billing/ledgerentry/add/")

    assert changed.status_code == 403
    assert deleted.status_code == 403
    assert bulk.status_code in (200, 302)  # the action simply does not exist
    assert added.status_code == 403
    assert rows() == before


def test_deleting_the_actors_account_keeps_the_entry_and_its_label(entry, staff):
    before = rows()
    assert entry.actor_id == staff.pk

    user_delete(user=staff, actor=staff)

    entry = LedgerEntry.objects.get(pk=entry.pk)
    assert entry.actor_id is None
    assert entry.actor_label == "ops@hypereal.example"
    assert rows() == before  # everything but the link is untouched
