from datetime import UTC, date, datetime

from django.db.models import Q, QuerySet, Sum

from accounts.models import User
from orgs.models import Organization
from orgs.permissions import Perm
from orgs.selectors import members_with_perm

from .models import CatalogModel, Hold, LedgerEntry, Payment, Wallet


def wallet_for(*, organization: Organization) -> Wallet:
    """The owner's wallet, read only. An owner who never had credits has no wallet row
    yet: that reads as an unsaved, empty wallet (balance 0, no public id). Only the
    services that move money create it (``ledger.wallet_get_or_create``)."""
    wallet = Wallet.objects.filter(organization=organization).first()
    if wallet is None:
        wallet = Wallet(organization=organization, public_id="")
    return wallet


#: Functions ``(organization_id=…) → µcr`` reserved against a wallet by calls in flight,
#: registered by the apps above in their ``ready()`` (the API keys' reservations): the
#: ledger does not see reservations, the pages show available = balance − held − reserved.
RESERVED_SOURCES: list = []


def wallet_reserved(*, organization_id: int | None) -> int:
    if organization_id is None:
        return 0
    return sum(source(organization_id=organization_id) for source in RESERVED_SOURCES)


def wallet_balances(*, organization_id: int) -> dict:
    """Id, balance and available credits of an owner's wallet, as the gateway sees them
    (``id`` None and zeros when the owner never had credits)."""
    row = (
        Wallet.objects.filter(organization_id=organization_id)
        .values("public_id", "balance_microcredits", "held_microcredits")
        .first()
    )
    if row is None:
        return {"id": None, "balance_microcredits": 0, "available_microcredits": 0}
    return {
        "id": row["public_id"],
        "balance_microcredits": row["balance_microcredits"],
        "available_microcredits": row["balance_microcredits"] - row["held_microcredits"],
    }


def billing_contacts(*, organization: Organization) -> list[str]:
    """Who hears about money: the user of a personal account; an organization's owners
    and billing members."""
    if organization.is_personal:
        user: User | None = organization.personal_for
        return [user.email] if user else []
    # Chosen by the role table: whoever may manage billing (owners, billing members).
    return sorted(
        members_with_perm(organization=organization, perm=Perm.BILLING_MANAGE).values_list(
            "user__email", flat=True
        )
    )


def wallet_open_holds(*, wallet: Wallet) -> QuerySet[Hold]:
    return Hold.objects.filter(wallet_id=wallet.pk, status=Hold.Status.OPEN).order_by("expires_at")


def wallet_entries(*, wallet: Wallet) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(wallet_id=wallet.pk).order_by("-created_at", "-id")


def wallet_payments(*, wallet: Wallet) -> QuerySet[Payment]:
    return Payment.objects.filter(wallet_id=wallet.pk).order_by("-created_at")


def payment_get(*, wallet: Wallet, public_id: str) -> Payment | None:
    if wallet.pk is None:
        return None
    return Payment.objects.filter(wallet=wallet, public_id=public_id).first()


def month_bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = (
        datetime(month.year + 1, 1, 1, tzinfo=UTC)
        if month.month == 12
        else datetime(month.year, month.month + 1, 1, tzinfo=UTC)
    )
    return start, end


def wallet_first_month(*, wallet: Wallet) -> date:
    """The first calendar month (UTC) of the account's life: its organization's creation or
    its first ledger movement, whichever came first."""
    first = (
        LedgerEntry.objects.filter(wallet_id=wallet.pk)  # none for an unsaved wallet
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    starts = [wallet.organization.created_at] + ([first] if first else [])
    if wallet.pk is not None:
        starts.append(wallet.created_at)
    start = min(starts).astimezone(UTC)
    return date(start.year, start.month, 1)


def wallet_entries_between(*, wallet: Wallet, start: datetime, end: datetime) -> QuerySet:
    """The wallet's ledger entries in ``[start, end)``, oldest first (none for an unsaved
    wallet)."""
    return LedgerEntry.objects.filter(
        wallet_id=wallet.pk, created_at__gte=start, created_at__lt=end
    ).order_by("created_at", "id")


def wallet_statement(*, wallet: Wallet, month: date) -> dict:
    """A month's entries with the opening and closing balance (calendar month, UTC)."""
    start, end = month_bounds(month)
    entries_of = LedgerEntry.objects.filter(wallet_id=wallet.pk)  # none for an unsaved wallet
    opening = (
        entries_of.filter(created_at__lt=start).aggregate(s=Sum("amount_microcredits"))["s"] or 0
    )
    entries = list(
        entries_of.filter(created_at__gte=start, created_at__lt=end).order_by("created_at", "id")
    )
    credits = sum(e.amount_microcredits for e in entries if e.amount_microcredits > 0)
    debits = sum(e.amount_microcredits for e in entries if e.amount_microcredits < 0)
    return {
        "month": month,
        "start": start,
        "end": end,
        "opening_microcredits": opening,
        "closing_microcredits": opening + credits + debits,
        "credits_microcredits": credits,
        "debits_microcredits": debits,
        "entries": entries,
    }


def ledger_mismatches() -> list[str]:
    """What ``manage.py ledger_check`` reports: every wallet whose balance is not the sum
    of its entries, whose held amount is not the sum of its open holds, or whose entries'
    running balances do not chain."""
    problems: list[str] = []
    sums = dict(
        LedgerEntry.objects.values("wallet")
        .annotate(s=Sum("amount_microcredits"))
        .values_list("wallet", "s")
    )
    held = dict(
        Hold.objects.filter(status=Hold.Status.OPEN)
        .values("wallet")
        .annotate(s=Sum("amount_microcredits"))
        .values_list("wallet", "s")
    )
    for wallet in Wallet.objects.select_related("organization").order_by("pk").iterator():
        label = f"wallet {wallet.public_id} ({wallet.organization})"
        expected = sums.get(wallet.pk, 0)
        if wallet.balance_microcredits != expected:
            problems.append(
                f"{label}: balance {wallet.balance_microcredits} µcr != sum of entries "
                f"{expected} µcr"
            )
        expected_held = held.get(wallet.pk, 0)
        if wallet.held_microcredits != expected_held:
            problems.append(
                f"{label}: held {wallet.held_microcredits} µcr != open holds {expected_held} µcr"
            )
        running = 0
        for amount, after in wallet.entries.order_by("id").values_list(
            "amount_microcredits", "balance_after_microcredits"
        ):
            running += amount
            if after != running:
                problems.append(f"{label}: an entry's balance_after {after} != running {running}")
                break
    for hold in Hold.objects.filter(status=Hold.Status.OPEN, amount_microcredits__lte=0):
        problems.append(f"hold {hold.public_id}: open with a non-positive amount")
    return problems


def _call_price_microcredits(model: CatalogModel) -> int:
    """What one plain call costs, to compare an intent's candidates: one image at the base
    price, one clip or request, a per-second model at its longest clip, a token model at a
    million input plus a million output tokens (in ncr: the same order for every token
    model, and never mixed with media in one intent)."""
    if model.pricing == CatalogModel.Pricing.PER_TOKEN:
        return model.input_nanocredits_per_token + model.output_nanocredits_per_token
    if model.pricing == CatalogModel.Pricing.PER_SECOND:
        return model.unit_microcredits * (model.max_seconds or 1)
    return model.unit_microcredits


def intent_cheapest(name: str) -> CatalogModel | None:
    """The cheapest active model of an intent (ties: the model id), or None when the
    intent is unknown or has no active candidate."""
    candidates = CatalogModel.objects.filter(intents__name=name, active=True)
    return min(candidates, key=lambda m: (_call_price_microcredits(m), m.model_id), default=None)


def catalog_models_public(*, family: str = "", query: str = "") -> QuerySet[CatalogModel]:
    """Active models for the public pricing page, narrowed to a family (ignored when
    unknown) and a search in the id or the display name."""
    models = CatalogModel.objects.filter(active=True).prefetch_related("aliases")
    if family in CatalogModel.Family.values:
        models = models.filter(family=family)
    if query:
        models = models.filter(Q(model_id__icontains=query) | Q(display_name__icontains=query))
    return models
