"""A key's usage bookkeeping, fed by usage ingestion with its batch totals: month spend,
the 80% / 100% cap alerts (each exactly once, by a unique row), auto-disable at the cap,
and ``last_used_at``.

Everything here runs inside the caller's (durable) ingestion transaction, and costs one
statement per concern per batch, whatever the number of events: one upsert of the month
spend, one insert of the alerts now due, one update of ``last_used_at``. Rows are touched
in key order, so concurrent batches lock them in the same order and cannot deadlock.
"""

import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from . import reservations
from .models import ApiKey, KeyAlert
from .services import apikey_auto_disable_in_transaction
from .signals import key_spending_alert
from .tasks import send_key_alert_email
from .verification import invalidate_hashes

logger = logging.getLogger("hypereal.apikeys")

#: What the bookkeeping needs of a key (read once per batch, no model instances).
KEY_FIELDS = (
    "id",
    "public_id",
    "organization_id",
    "spending_limit_microcredits",
    "auto_disable",
    "secret_hash",
    "previous_secret_hash",
)


def usage_keys_by_public_id(public_ids: Iterable[str]) -> dict[str, dict]:
    """The keys a batch names, by public id (unknown ids are simply absent)."""
    return {
        row["public_id"]: row
        for row in ApiKey.objects.filter(public_id__in=list(public_ids)).values(*KEY_FIELDS)
    }


def usage_key_by_pk(pk: int) -> dict | None:
    return ApiKey.objects.filter(pk=pk).values(*KEY_FIELDS).first()


def caps_record_usage(
    *,
    spend: Mapping[tuple[int, str], int],
    keys: Mapping[int, dict],
    last_used: Mapping[int, datetime] | None = None,
    overshoot: Mapping[tuple[int, str], int] | None = None,
    reservation_ids: Iterable[str] = (),
) -> int:
    """Record a batch: ``spend`` is µcr per (key pk, UTC month "YYYY-MM"), ``keys`` the
    rows of ``usage_keys_by_public_id`` by pk, ``last_used`` the latest use per key pk,
    ``overshoot`` the µcr charged beyond the calls' reservations, ``reservation_ids`` the
    reservations the batch settles (released after commit, each once).
    Returns how many cap alerts fired."""
    if not connection.in_atomic_block:
        raise RuntimeError("caps_record_usage must run inside the ingestion transaction")
    fired = _fire_alerts(_add_spend(spend, overshoot or {}), keys)
    if last_used:
        keys_touch(last_used=last_used)
    _settle_on_commit(list(reservation_ids), dict(spend))
    return fired


def caps_reserved_amounts(ids: list[str]) -> dict[str, int]:
    """The live reservations' amounts (empty when the store does not answer)."""
    try:
        return reservations.amounts(ids)
    except reservations.Unavailable:
        logger.warning("reservation store unavailable: overshoot not measured", exc_info=True)
        return {}


def _settle_on_commit(ids: list[str], spend: dict[tuple[int, str], int]) -> None:
    """After commit, one script releases the reservations and adds the spend to the
    counters. If the store does not answer, the settlement is journalled in PostgreSQL and
    applied by the beat tasks once it is back (``reservations.settle_pending``)."""
    if ids or spend:
        settle_after_commit(ids=ids, spend=spend)


class _Settlement:
    """What one transaction (at one depth of savepoints) has to tell the reservation store
    after it commits, gathered so that it goes in one call."""

    def __init__(self, savepoints: set[str]) -> None:
        self.savepoints = savepoints
        self.ids: list[str] = []
        self.spend: dict[tuple[int, str], int] = {}
        self.wallets: dict[int, int] = {}
        self.sent = False

    def add(self, ids, spend, wallets) -> None:
        self.ids.extend(ids)
        for period, amount in spend.items():
            self.spend[period] = self.spend.get(period, 0) + amount
        for org, delta in wallets.items():
            # Debits add up; a credit (or 0) anywhere drops the counter, as it would have
            # on its own (``reservations.settle``).
            before = self.wallets.get(org)
            if before is None:
                self.wallets[org] = delta
            elif before < 0 and delta < 0:
                self.wallets[org] = before + delta
            else:
                self.wallets[org] = 0

    def run(self) -> None:
        self.sent = True
        reservations.settle_or_journal(ids=self.ids, spend=self.spend, wallets=self.wallets)


_pending = threading.local()


def settle_after_commit(
    *,
    ids: Iterable[str] = (),
    spend: Mapping[tuple[int, str], int] | None = None,
    wallets: Mapping[int, int] | None = None,
) -> None:
    """``reservations.settle_or_journal`` once the current transaction commits (at once
    outside one). Everything asked within one transaction goes to the store in one call:
    an ingestion batch moves up to a wallet per owner and the spend of each key, which
    were a round trip each. Django drops the on-commit callbacks registered inside a
    savepoint that rolls back, so a settlement is only added to one whose callback would
    share its fate: registered at the same savepoints, or inside savepoints since released
    (their ids are never reused), never at a shallower level than the one asking."""
    ids, spend, wallets = list(ids), dict(spend or {}), dict(wallets or {})
    if not connection.in_atomic_block:
        reservations.settle_or_journal(ids=ids, spend=spend, wallets=wallets)
        return
    savepoints = set(connection.savepoint_ids)
    current = getattr(_pending, "settlement", None)
    if (
        current is None
        or current.sent
        or not savepoints <= current.savepoints
        or not any(hook is current.hook for _s, hook, _r in connection.run_on_commit)
    ):
        current = _Settlement(savepoints)
        current.hook = current.run  # one bound method, to find it among the callbacks
        _pending.settlement = current
        transaction.on_commit(current.hook)
    current.add(ids, spend, wallets)


def keys_touch(*, last_used: Mapping[int, datetime]) -> int:
    """Move each key's ``last_used_at`` forward to the given time (never backwards, never
    into the future): one UPDATE for all the keys, writing only the rows it moves. Plain
    SQL: the ORM's CASE/WHEN compile cost three times the statement itself per batch."""
    now = timezone.now()
    times = sorted((pk, min(at, now)) for pk, at in last_used.items())
    if not times:
        return 0
    adapt = connection.ops.adapt_datetimefield_value  # SQLite stores text in Django's format
    pairs = [value for pk, at in times for value in (pk, adapt(at))]
    cases = " ".join(["WHEN %s THEN %s"] * len(times))
    moves = " OR ".join(["(id = %s AND (last_used_at IS NULL OR last_used_at < %s))"] * len(times))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ApiKey._meta.db_table} SET last_used_at = CASE id {cases} END "  # noqa: S608 - placeholders only
            f"WHERE {moves}",
            pairs + pairs,
        )
        return cursor.rowcount


def _add_spend(
    spend: Mapping[tuple[int, str], int], overshoot: Mapping[tuple[int, str], int]
) -> list[tuple[int, str, int, int]]:
    """Add to each (key, month) spend (and overshoot) in one upsert; returns (key, period,
    before, after)."""
    if not spend:
        return []
    items = sorted(spend.items())
    values = ", ".join(["(%s, %s, %s, %s)"] * len(items))
    params: list = []
    for (key_pk, period), amount in items:
        params += [key_pk, period, amount, overshoot.get((key_pk, period), 0)]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO apikeys_keymonthspend (key_id, period, spend_microcredits, "  # noqa: S608
            f"overshoot_microcredits) VALUES {values} ON CONFLICT (key_id, period) "
            "DO UPDATE SET spend_microcredits = "
            "apikeys_keymonthspend.spend_microcredits + excluded.spend_microcredits, "
            "overshoot_microcredits = apikeys_keymonthspend.overshoot_microcredits "
            "+ excluded.overshoot_microcredits "
            "RETURNING key_id, period, spend_microcredits",
            params,
        )
        rows = cursor.fetchall()
    return [(k, p, after - spend[(k, p)], after) for k, p, after in rows]


def _fire_alerts(changes: list[tuple[int, str, int, int]], keys: Mapping[int, dict]) -> int:
    """Insert the cap alerts now due; each (key, month, level) exists at most once, so
    concurrent batches and retries fire each alert exactly once."""
    due = []
    for key_pk, period, _before, after in changes:
        key = keys[key_pk]
        limit = key["spending_limit_microcredits"]
        if not limit:
            continue
        for level in (KeyAlert.Level.HEADS_UP, KeyAlert.Level.CAP):
            if after * 100 >= limit * level:
                due.append((key_pk, period, int(level), after, limit))
    if not due:
        return 0
    now = timezone.now()
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(due))
    params: list = []
    for key_pk, period, level, after, limit in due:
        params += [key_pk, period, level, after, limit, False, now]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO apikeys_keyalert (key_id, period, level, spend_microcredits, "  # noqa: S608
            f"limit_microcredits, key_disabled, created_at) VALUES {values} "
            "ON CONFLICT (key_id, period, level) DO NOTHING "
            "RETURNING id, key_id, level, period, spend_microcredits, limit_microcredits",
            params,
        )
        fired = cursor.fetchall()
    for alert_id, key_pk, level, period, spend, limit in fired:
        key = keys[key_pk]
        disabled = False
        if level == KeyAlert.Level.CAP:
            invalidate_hashes([key["secret_hash"], key["previous_secret_hash"]])
            if key["auto_disable"] and apikey_auto_disable_in_transaction(
                key_id=key_pk, reason="spending_limit_reached"
            ):
                KeyAlert.objects.filter(pk=alert_id).update(key_disabled=True)
                disabled = True
        key_spending_alert.send(
            sender=KeyAlert,
            key_id=key_pk,
            level=int(level),
            period=period,
            spend_microcredits=spend,
            limit_microcredits=limit,
            key_disabled=disabled,
        )
        transaction.on_commit(lambda alert_id=alert_id: send_key_alert_email.delay(alert_id))
    return len(fired)


def caps_alert_reserved(*, key_pk: int, period: str, amount: int) -> int:
    """The alerts due at ``amount`` µcr of spend + reserved (a verification's reservation
    crossed a level); auto-disables at 100% like booked spend does."""
    key = usage_key_by_pk(key_pk)
    if key is None or not key["spending_limit_microcredits"]:
        return 0
    with transaction.atomic():
        return _fire_alerts([(key_pk, period, 0, amount)], {key_pk: key})
