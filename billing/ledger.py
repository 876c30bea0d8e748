"""The only code that moves money: ledger entries and holds.

Rules (docs/architecture.md, "Money"):

* A wallet's balance changes only here, in the same transaction as its ledger entry, with a
  single conditional ``UPDATE … RETURNING``: there is no read-modify-write window, so
  concurrent debits on one hot wallet never lose an update.
* Every movement carries an idempotency key. Posting a key again returns the first entry;
  posting it with a different wallet, amount or kind is an error (409).
* Debits for usage that already happened may take the balance below zero. Holds, and any
  debit posted with ``allow_negative=False``, may not take the *available* balance
  (balance minus open holds) below zero.

Public services are ``@transaction.atomic(durable=True)``; the ``*_in_transaction``
variants let a larger durable service (a usage batch) post inside its own transaction.

The ledger is a leaf: it imports no other domain app (``Organization`` and ``User`` only
as type hints). Whoever must react to a balance change (the API keys' verification cache)
subscribes to ``billing.signals.balance_changed``; ``make lint`` holds this shape.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from hypereal_site.api.errors import ApplicationError

from .alerts import low_balance_check
from .models import Hold, LedgerEntry, Wallet
from .signals import balance_changed, hold_expired, wallet_moved

if TYPE_CHECKING:  # type hints only: at run time the ledger imports no other domain app
    from accounts.models import User
    from orgs.models import Organization

logger = logging.getLogger("hypereal.billing")

MAX_HOLD_SECONDS = 7 * 24 * 3600


class InsufficientCredits(ApplicationError):
    def __init__(self, *, available: int, needed: int) -> None:
        super().__init__(
            "insufficient_credits",
            _("Not enough credits: %(needed)s µcr needed, %(available)s µcr available.")
            % {"needed": needed, "available": available},
            status=402,
            extra={"available_microcredits": available, "needed_microcredits": needed},
        )


class IdempotencyConflict(ApplicationError):
    def __init__(self, key: str) -> None:
        super().__init__(
            "idempotency_conflict",
            _("Idempotency key %(key)s was already used for a different movement.")
            % {"key": repr(key)},
            status=409,
        )


class HoldResolved(ApplicationError):
    def __init__(self, hold: Hold) -> None:
        super().__init__(
            "hold_already_resolved",
            _("Hold %(id)s is already %(status)s.") % {"id": hold.public_id, "status": hold.status},
            status=409,
        )


# --- wallets ----------------------------------------------------------------------------


def wallet_get_or_create(*, organization: Organization) -> Wallet:
    wallet = Wallet.objects.filter(organization=organization).first()
    if wallet is not None:
        return wallet
    try:
        with transaction.atomic():
            return Wallet.objects.create(organization=organization)
    except IntegrityError:  # created by a concurrent request
        return Wallet.objects.get(organization=organization)


def _apply(
    wallet_id: int, *, balance_delta: int, held_delta: int, min_available_after: int | None
) -> tuple[int, int, int | None] | None:
    """One conditional UPDATE of the wallet row; returns (balance, held, low-balance
    threshold, alerted) or None when the condition refused it. ``min_available_after=None`` means
    unconditional. The threshold comes back from the locked row, so the alert never uses
    a stale value from a wallet object the caller loaded earlier."""
    sql = (
        "UPDATE billing_wallet SET balance_microcredits = balance_microcredits + %s, "
        "held_microcredits = held_microcredits + %s WHERE id = %s"
    )
    params: list[int] = [balance_delta, held_delta, wallet_id]
    if min_available_after is not None:
        sql += " AND balance_microcredits + %s - (held_microcredits + %s) >= %s"
        params += [balance_delta, held_delta, min_available_after]
    sql += (
        " RETURNING balance_microcredits, held_microcredits, "
        "low_balance_threshold_microcredits, low_balance_alerted, organization_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if not row:
        return None
    wallet_moved.send(
        sender=Wallet, organization_id=row[4], available_delta=balance_delta - held_delta
    )
    return tuple(row[:4])


def _available(wallet_id: int) -> int:
    wallet = Wallet.objects.only("balance_microcredits", "held_microcredits").get(pk=wallet_id)
    return wallet.available_microcredits


def _same_movement(entry: LedgerEntry, wallet: Wallet, amount: int, kind: str) -> bool:
    return (
        entry.wallet_id == wallet.pk and entry.amount_microcredits == amount and entry.kind == kind
    )


# --- posting ----------------------------------------------------------------------------


def ledger_post_in_transaction(
    *,
    wallet: Wallet,
    amount_microcredits: int,
    kind: str,
    idempotency_key: str,
    reference: str = "",
    description: str = "",
    actor: User | None = None,
    allow_negative: bool = True,
    _autocommit: bool = False,
) -> tuple[LedgerEntry, bool]:
    """Post one movement inside the caller's transaction; returns (entry, created)."""
    if not (connection.in_atomic_block or _autocommit):
        raise RuntimeError("ledger_post_in_transaction must run inside a transaction")
    if not idempotency_key:
        raise ValueError("every ledger movement needs an idempotency key")
    amount = int(amount_microcredits)
    guarded = amount < 0 and not allow_negative
    fields = {
        "amount_microcredits": amount,
        "kind": kind,
        "idempotency_key": idempotency_key,
        "reference": reference[:255],
        "description": description[:255],
        "actor": actor,
        "actor_label": actor.email if actor else "system",
    }
    if connection.vendor == "postgresql":
        posted = _post_postgresql(wallet, guarded=guarded, autocommit=_autocommit, **fields)
    else:
        posted = _post_portable(wallet, guarded=guarded, **fields)
    if isinstance(posted, LedgerEntry):  # the key was used before: nothing moved
        if not _same_movement(posted, wallet, amount, kind):
            raise IdempotencyConflict(idempotency_key)
        return posted, False
    entry, (balance_after, held, threshold, alerted) = posted
    wallet.balance_microcredits, wallet.held_microcredits = balance_after, held
    wallet.low_balance_threshold_microcredits = threshold
    wallet.low_balance_alerted = alerted
    _after_balance_change(wallet, balance_after - amount, balance_after)
    return entry, True


# One statement, one round trip, no savepoint: lock the wallet row (re-checking the guard on
# the current row version), insert the entry with the balance it leaves, and move the
# balance only if the entry went in. A replay finds the key taken: the INSERT does nothing,
# so the UPDATE does nothing either. As a single statement it is atomic on its own, which
# lets ``ledger_post`` run it in autocommit (one round trip instead of BEGIN + it + COMMIT).
#
# ``quiet`` says whether the movement leaves the low-balance alert as it is (no threshold,
# or already on the right side of it). In autocommit only a quiet movement is applied: one
# that crosses the threshold (either way) must flip the alert flag and, going down, write
# the ``balance.low`` outbox rows in the same transaction as the entry, so the statement
# then does nothing and ``ledger_post`` posts it again inside a transaction.
_PG_POST = """
WITH w AS (
    SELECT id, balance_microcredits, held_microcredits, low_balance_threshold_microcredits,
           low_balance_alerted, {quiet} AS quiet
    FROM billing_wallet WHERE id = %(wallet)s {guard} FOR UPDATE
), ins AS (
    INSERT INTO billing_ledgerentry (wallet_id, amount_microcredits, kind, idempotency_key,
        reference, description, balance_after_microcredits, actor_id, actor_label, created_at)
    SELECT w.id, %(amount)s, %(kind)s, %(key)s, %(reference)s, %(description)s,
           w.balance_microcredits + %(amount)s, %(actor)s, %(actor_label)s, %(now)s
    FROM w WHERE w.quiet
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
), upd AS (
    UPDATE billing_wallet SET balance_microcredits = balance_microcredits + %(amount)s
    WHERE id = %(wallet)s AND EXISTS (SELECT 1 FROM ins)
    RETURNING balance_microcredits
)
SELECT (SELECT balance_microcredits FROM upd), w.held_microcredits,
       w.low_balance_threshold_microcredits, w.low_balance_alerted, (SELECT id FROM ins),
       w.quiet
FROM w
"""
_PG_GUARD = "AND balance_microcredits - held_microcredits + %(amount)s >= 0"
_PG_QUIET = (
    "(low_balance_threshold_microcredits IS NULL OR low_balance_alerted = "
    "(balance_microcredits + %(amount)s < low_balance_threshold_microcredits))"
)


class _CrossesThreshold(Exception):
    """The autocommit statement refused a movement that crosses the low-balance threshold:
    post it again inside a transaction (``ledger_post``)."""


_CREATED_AT = LedgerEntry._meta.get_field("created_at")


def _post_postgresql(wallet: Wallet, *, guarded: bool, autocommit: bool = False, **fields):
    amount = fields["amount_microcredits"]
    now = _CREATED_AT.get_default()  # the field's own default, as the ORM would use
    params = {
        "amount": amount,
        "wallet": wallet.pk,
        "kind": fields["kind"],
        "key": fields["idempotency_key"],
        "reference": fields["reference"],
        "description": fields["description"],
        "actor": fields["actor"].pk if fields["actor"] else None,
        "actor_label": fields["actor_label"],
        "now": now,
    }
    with connection.cursor() as cursor:
        sql = _PG_POST.format(
            guard=_PG_GUARD if guarded else "", quiet=_PG_QUIET if autocommit else "TRUE"
        )
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:
            existing = LedgerEntry.objects.filter(idempotency_key=fields["idempotency_key"]).first()
            if existing is not None:
                return existing  # a replay that the guard refused: still just a replay
            raise InsufficientCredits(available=_available(wallet.pk), needed=-amount)
        balance, held, threshold, alerted, entry_id, quiet = row
        if not quiet:  # autocommit only: nothing was written
            raise _CrossesThreshold
        if entry_id is None:  # the key was taken (by a concurrent original): nothing moved
            return LedgerEntry.objects.get(idempotency_key=fields["idempotency_key"])
    wallet_moved.send(sender=Wallet, organization_id=wallet.organization_id, available_delta=amount)
    entry = LedgerEntry(
        id=entry_id,
        wallet=wallet,
        balance_after_microcredits=balance,
        created_at=now,
        **fields,
    )
    entry._state.adding = False
    entry._state.db = connection.alias
    return entry, (balance, held, threshold, alerted)


def _post_portable(wallet: Wallet, *, guarded: bool, **fields):
    """The same movement in standard SQL, for SQLite: look the key up, then UPDATE and
    INSERT inside a savepoint that a concurrent duplicate rolls back."""
    key = fields["idempotency_key"]
    amount = fields["amount_microcredits"]
    existing = LedgerEntry.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():  # savepoint: a duplicate key undoes the UPDATE too
            row = _apply(
                wallet.pk,
                balance_delta=amount,
                held_delta=0,
                min_available_after=0 if guarded else None,
            )
            if row is None:
                raise InsufficientCredits(available=_available(wallet.pk), needed=-amount)
            entry = LedgerEntry.objects.create(
                wallet=wallet, balance_after_microcredits=row[0], **fields
            )
    except IntegrityError:
        existing = LedgerEntry.objects.filter(idempotency_key=key).first()
        if existing is None:
            raise
        return existing
    return entry, row


def ledger_post(**kwargs) -> LedgerEntry:
    """Post one movement in its own transaction (see ``ledger_post_in_transaction``).

    Durable: it refuses to run inside someone else's transaction. On PostgreSQL, outside
    any transaction, the movement is one atomic statement in autocommit, unless it crosses
    the wallet's low-balance threshold: that one is posted in a transaction, with the
    alert flag, the ``balance_low`` signal and what its receivers write (the webhooks'
    ``balance.low`` outbox rows), so all of it commits or rolls back together.
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        try:
            entry, _created = ledger_post_in_transaction(_autocommit=True, **kwargs)
        except _CrossesThreshold:
            pass  # nothing was written: post it again in a transaction, below
        else:
            return entry
    with transaction.atomic(durable=True):
        entry, _created = ledger_post_in_transaction(**kwargs)
    return entry


#: Below this balance every change refreshes the owner's cached key verifications, so the
#: gateway's "enough credits?" answer is exact where it matters (10 USD).
VERIFY_REFRESH_BELOW = 1000 * 1_000_000


def _after_balance_change(wallet: Wallet, before: int, after: int) -> None:
    low_balance_check(wallet=wallet, after=after)
    # A credit may turn a refused key back on; a debit matters only while the balance is
    # still non-negative and low (once below zero every call is already refused).
    if after > before or (before >= 0 and after < VERIFY_REFRESH_BELOW):
        _refresh_verifications(wallet)


def _refresh_verifications(wallet: Wallet) -> None:
    """Tell whoever caches "enough credits?" answers (the API keys app subscribes)."""
    balance_changed.send(sender=Wallet, organization_id=wallet.organization_id)


# --- holds ------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def hold_place(
    *,
    wallet: Wallet,
    amount_microcredits: int,
    reference: str,
    expires_in_seconds: int = 3600,
    key=None,
    keep_available: int = 0,
) -> tuple[Hold, bool]:
    """Reserve ``amount`` until captured, released or expired; (hold, created).

    The same ``reference`` on the same wallet returns the first hold (a retried request).
    ``keep_available``: what the available balance must still cover after the hold (the
    credits reserved by calls in flight, which the ledger does not see).
    """
    amount = int(amount_microcredits)
    if amount <= 0:
        raise ApplicationError("invalid_amount", _("A hold must be a positive amount."))
    if not reference:
        raise ApplicationError("invalid_reference", _("A hold needs a reference."))
    expires_in = int(expires_in_seconds)
    if not 1 <= expires_in <= MAX_HOLD_SECONDS:
        raise ApplicationError(
            "invalid_expiry",
            _("expires_in_seconds must be between 1 and %(max)s.") % {"max": MAX_HOLD_SECONDS},
        )
    existing = Hold.objects.filter(wallet=wallet, reference=reference).first()
    if existing is not None:
        return _same_hold(existing, amount), False
    try:
        with transaction.atomic():
            row = _apply(
                wallet.pk,
                balance_delta=0,
                held_delta=amount,
                min_available_after=max(0, keep_available),
            )
            if row is None:
                raise InsufficientCredits(
                    available=_available(wallet.pk) - max(0, keep_available), needed=amount
                )
            hold = Hold.objects.create(
                wallet=wallet,
                key=key,
                amount_microcredits=amount,
                reference=reference,
                expires_at=timezone.now() + timedelta(seconds=expires_in),
            )
    except IntegrityError:
        existing = Hold.objects.filter(wallet=wallet, reference=reference).first()
        if existing is None:
            raise
        return _same_hold(existing, amount), False
    wallet.balance_microcredits, wallet.held_microcredits, _threshold, _alerted = row
    if wallet.available_microcredits < VERIFY_REFRESH_BELOW:
        _refresh_verifications(wallet)
    return hold, True


def _same_hold(hold: Hold, amount: int) -> Hold:
    if hold.amount_microcredits != amount:
        raise ApplicationError(
            "idempotency_conflict",
            _("Reference %(reference)s already holds a different amount.")
            % {"reference": repr(hold.reference)},
            status=409,
        )
    return hold


def _lock_open_hold(hold: Hold) -> Hold:
    locked = Hold.objects.select_for_update().select_related("wallet").get(pk=hold.pk)
    if locked.status != Hold.Status.OPEN:
        raise HoldResolved(locked)
    return locked


class HoldExpired(ApplicationError):
    def __init__(self, hold: Hold) -> None:
        super().__init__(
            "hold_expired",
            _("Hold %(id)s expired at %(when)s; its credits are being released.")
            % {"id": hold.public_id, "when": hold.expires_at.isoformat()},
            status=409,
        )


def hold_capture_in_transaction(
    *, hold: Hold, amount_microcredits: int, actor: User | None = None, description: str = ""
) -> tuple[Hold, LedgerEntry | None]:
    hold = _lock_open_hold(hold)
    if hold.expires_at <= timezone.now():
        # Past its time the reservation is no longer the customer's promise, even if the
        # expiry task has not released it yet.
        raise HoldExpired(hold)
    amount = int(amount_microcredits)
    if not 0 <= amount <= hold.amount_microcredits:
        raise ApplicationError(
            "invalid_amount",
            _("Capture between 0 and the held %(amount)s µcr.")
            % {"amount": hold.amount_microcredits},
        )
    # Release the whole reservation and charge what was used, in one UPDATE.
    row = _apply(
        hold.wallet_id,
        balance_delta=-amount,
        held_delta=-hold.amount_microcredits,
        min_available_after=None,
    )
    balance_after, held, threshold, alerted = row
    entry = None
    if amount:
        entry = LedgerEntry.objects.create(
            wallet_id=hold.wallet_id,
            amount_microcredits=-amount,
            kind=LedgerEntry.Kind.HOLD_CAPTURE,
            idempotency_key=f"hold:{hold.public_id}:capture",
            reference=hold.reference[:255],
            description=description[:255] or f"Hold {hold.public_id} captured",
            balance_after_microcredits=balance_after,
            actor=actor,
            actor_label=actor.email if actor else "system",
        )
    hold.status = Hold.Status.CAPTURED
    hold.captured_microcredits = amount
    hold.resolved_at = timezone.now()
    hold.save(update_fields=["status", "captured_microcredits", "resolved_at"])
    wallet = hold.wallet
    wallet.balance_microcredits, wallet.held_microcredits = balance_after, held
    wallet.low_balance_threshold_microcredits = threshold
    wallet.low_balance_alerted = alerted
    if amount:
        _after_balance_change(wallet, balance_after + amount, balance_after)
    return hold, entry


@transaction.atomic(durable=True)
def hold_capture(*, hold: Hold, amount_microcredits: int, actor: User | None = None) -> Hold:
    hold, _entry = hold_capture_in_transaction(
        hold=hold, amount_microcredits=amount_microcredits, actor=actor
    )
    return hold


def _release(hold: Hold, status: str) -> Hold:
    hold = _lock_open_hold(hold)
    _apply(
        hold.wallet_id,
        balance_delta=0,
        held_delta=-hold.amount_microcredits,
        min_available_after=None,
    )
    hold.status = status
    hold.captured_microcredits = 0
    hold.resolved_at = timezone.now()
    hold.save(update_fields=["status", "captured_microcredits", "resolved_at"])
    _refresh_verifications(hold.wallet)
    if status == Hold.Status.EXPIRED:
        # Whoever the hold paid for (a GPU job) learns it in this transaction.
        hold_expired.send(sender=Hold, hold=hold)
    return hold


@transaction.atomic(durable=True)
def hold_release(*, hold: Hold) -> Hold:
    return _release(hold, Hold.Status.RELEASED)


def hold_release_in_transaction(*, hold: Hold) -> Hold:
    """``hold_release`` inside the caller's transaction (a GPU job's settlement)."""
    if not connection.in_atomic_block:
        raise RuntimeError("hold_release_in_transaction must run inside a transaction")
    return _release(hold, Hold.Status.RELEASED)


def holds_expire_due(*, now=None, limit: int = 500) -> int:
    """Release every open hold past its expiry; returns how many. Safe to run anywhere,
    any number of times at once: each hold is resolved under its own row lock."""
    now = now or timezone.now()
    expired = 0
    due = list(
        Hold.objects.filter(status=Hold.Status.OPEN, expires_at__lte=now).values_list(
            "pk", flat=True
        )[:limit]
    )
    for pk in due:
        try:
            with transaction.atomic():
                _release(Hold(pk=pk), Hold.Status.EXPIRED)
        except HoldResolved:
            continue  # captured or released meanwhile
        expired += 1
    return expired
