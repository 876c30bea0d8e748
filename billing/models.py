"""Wallets, the append-only ledger, holds, Stripe payments and the model price catalog.

Units: every amount is an integer number of micro-credits (µcr). 1 credit = 1,000,000 µcr,
1 USD = 100 credits, so 1 US cent = 1 credit = 1,000,000 µcr. Token prices are stored in
nano-credits per token (1 credit per million tokens = 1 µcr per token = 1,000 ncr per
token) so that catalog prices down to 0.001 credits per million tokens stay exact.
"""

import re

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from hypereal_site.ids import new_public_id
from hypereal_site.text import isolate
from orgs.models import Organization

MICROCREDITS_PER_CREDIT = 1_000_000
CREDITS_PER_USD = 100
MICROCREDITS_PER_CENT = MICROCREDITS_PER_CREDIT  # 1 US cent buys 1 credit
NANOCREDITS_PER_MICROCREDIT = 1_000


class Wallet(models.Model):
    """One per owner (personal account or organization).

    ``balance_microcredits`` equals the sum of the wallet's ledger entries at all times;
    ``held_microcredits`` is the sum of its open holds. Both change only through
    ``billing.ledger`` in the same transaction as the rows that justify them.
    """

    public_id = models.CharField(
        gettext_lazy("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    organization = models.OneToOneField(
        Organization,
        on_delete=models.PROTECT,
        related_name="wallet",
        verbose_name=gettext_lazy("organization"),
    )
    balance_microcredits = models.BigIntegerField(gettext_lazy("balance (µcr)"), default=0)
    held_microcredits = models.BigIntegerField(gettext_lazy("held (µcr)"), default=0)
    low_balance_threshold_microcredits = models.BigIntegerField(
        gettext_lazy("low-balance alert below (µcr)"), null=True, blank=True
    )
    # True once the low-balance email went out; cleared when the balance recovers above
    # the threshold, so each downward crossing sends exactly one email.
    low_balance_alerted = models.BooleanField(gettext_lazy("low-balance email sent"), default=False)
    low_balance_alert_count = models.PositiveIntegerField(
        gettext_lazy("low-balance emails sent"), default=0
    )
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(held_microcredits__gte=0), name="billing_wallet_held_nonnegative"
            ),
        ]
        verbose_name = gettext_lazy("wallet")
        verbose_name_plural = gettext_lazy("wallets")

    def __str__(self) -> str:
        return f"wallet of {self.organization}"

    @property
    def available_microcredits(self) -> int:
        return self.balance_microcredits - self.held_microcredits


#: The descriptions the console writes on ledger entries (billing.payments, the usage
#: ingestion, hold captures, GPU jobs), by kind: their English form and the sentence shown.
#: Amounts and ids are isolated (they keep their left-to-right form inside Arabic).
_MACHINE_DESCRIPTIONS = (
    (
        "usage",
        re.compile(r"Usage: (?P<n>\d+) request\(s\)"),
        lambda m: (
            ngettext("Usage: %(n)s request", "Usage: %(n)s requests", int(m["n"])) % {"n": m["n"]}
        ),
    ),
    (
        "topup",
        re.compile(r"Top-up (?P<amount>\$[\d,]+\.\d\d)"),
        lambda m: gettext("Top-up %(amount)s") % {"amount": isolate(m["amount"])},
    ),
    (
        "refund",
        re.compile(r"Refund (?P<amount>\$[\d,]+\.\d\d)"),
        lambda m: gettext("Refund %(amount)s") % {"amount": isolate(m["amount"])},
    ),
    (
        "dispute",
        re.compile(r"Dispute opened, (?P<amount>\$[\d,]+\.\d\d) withdrawn"),
        lambda m: (
            gettext("Dispute opened, %(amount)s withdrawn") % {"amount": isolate(m["amount"])}
        ),
    ),
    (
        "dispute_reversal",
        re.compile(r"Dispute won, (?P<amount>\$[\d,]+\.\d\d) reinstated"),
        lambda m: gettext("Dispute won, %(amount)s reinstated") % {"amount": isolate(m["amount"])},
    ),
    (
        "hold_capture",
        re.compile(r"Hold (?P<hold>\S+) captured"),
        lambda m: gettext("Hold %(hold)s captured") % {"hold": isolate(m["hold"])},
    ),
    (
        "hold_capture",
        re.compile(r"GPU job (?P<job>\S+)"),
        lambda m: gettext("GPU job %(job)s") % {"job": isolate(m["job"])},
    ),
)


class LedgerEntry(models.Model):
    """An append-only money movement. On PostgreSQL a trigger refuses UPDATE and DELETE
    (except nulling ``actor_id`` when that user is deleted)."""

    class Kind(models.TextChoices):
        TOPUP = "topup", gettext_lazy("Top-up")
        USAGE = "usage", gettext_lazy("Usage")
        HOLD_CAPTURE = "hold_capture", gettext_lazy("Hold captured")
        REFUND = "refund", gettext_lazy("Refund")
        DISPUTE = "dispute", gettext_lazy("Dispute")
        DISPUTE_REVERSAL = "dispute_reversal", gettext_lazy("Dispute reversal")
        ADJUSTMENT = "adjustment", gettext_lazy("Staff adjustment")
        GRANT = "grant", gettext_lazy("Grant")

    # No single-column index on wallet: (wallet, created_at, id) below serves those
    # lookups, and every index is paid for on each hot-wallet debit.
    wallet = models.ForeignKey(
        Wallet,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
        verbose_name=gettext_lazy("wallet"),
    )
    amount_microcredits = models.BigIntegerField(gettext_lazy("amount (µcr)"))
    kind = models.CharField(gettext_lazy("kind"), max_length=24, choices=Kind.choices)
    idempotency_key = models.CharField(gettext_lazy("idempotency key"), max_length=200, unique=True)
    reference = models.CharField(gettext_lazy("reference"), max_length=255, blank=True)
    description = models.CharField(gettext_lazy("description"), max_length=255, blank=True)
    balance_after_microcredits = models.BigIntegerField(gettext_lazy("balance after (µcr)"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # see the partial index below: most entries have no person behind them,
        verbose_name=gettext_lazy("actor"),
    )
    actor_label = models.CharField(gettext_lazy("recorded actor"), max_length=254, blank=True)
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["wallet", "created_at", "id"]),
            models.Index(
                fields=["actor"], condition=Q(actor__isnull=False), name="billing_entry_actor"
            ),
        ]
        verbose_name_plural = gettext_lazy("ledger entries")
        verbose_name = gettext_lazy("ledger entry")

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_microcredits:+d} µcr"

    def description_text(self) -> str:
        """The description in the reader's language. What the console itself wrote (a
        top-up, a refund, a usage batch, a hold's capture) was stored as an English
        sentence, like the statement's CSV; it is recognised here and shown translated.
        What a person wrote (a staff adjustment's reason) is shown as they wrote it."""
        for kind, pattern, text in _MACHINE_DESCRIPTIONS:
            if self.kind == kind and (match := pattern.fullmatch(self.description)):
                return text(match)
        return self.description


class Hold(models.Model):
    """A two-phase reservation: placed, then captured (≤ amount), released or expired,
    exactly once."""

    class Status(models.TextChoices):
        OPEN = "open", gettext_lazy("Open")
        CAPTURED = "captured", gettext_lazy("Captured")
        RELEASED = "released", gettext_lazy("Released")
        EXPIRED = "expired", gettext_lazy("Expired")

    public_id = models.CharField(
        gettext_lazy("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, related_name="holds", verbose_name=gettext_lazy("wallet")
    )
    amount_microcredits = models.BigIntegerField(gettext_lazy("amount (µcr)"))
    captured_microcredits = models.BigIntegerField(
        gettext_lazy("captured (µcr)"), null=True, blank=True
    )
    reference = models.CharField(gettext_lazy("reference"), max_length=200)
    # The key the reservation was made for (its month spend grows on capture), if any.
    key = models.ForeignKey(
        "apikeys.ApiKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="holds",
        verbose_name=gettext_lazy("API key"),
    )
    status = models.CharField(
        gettext_lazy("status"), max_length=16, choices=Status.choices, default=Status.OPEN
    )
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)
    expires_at = models.DateTimeField(gettext_lazy("expires at"))
    resolved_at = models.DateTimeField(gettext_lazy("resolved at"), null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wallet", "reference"], name="billing_hold_reference"),
            models.CheckConstraint(
                condition=Q(amount_microcredits__gt=0), name="billing_hold_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(captured_microcredits__isnull=True)
                | Q(
                    captured_microcredits__gte=0,
                    captured_microcredits__lte=F("amount_microcredits"),
                ),
                name="billing_hold_capture_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"])]
        verbose_name = gettext_lazy("hold")
        verbose_name_plural = gettext_lazy("holds")

    def __str__(self) -> str:
        return f"hold {self.public_id} ({self.status})"


class Payment(models.Model):
    """A Stripe Checkout top-up. Credits are granted only by the verified webhook."""

    class Status(models.TextChoices):
        PENDING = "pending", gettext_lazy("Awaiting payment")
        PAID = "paid", gettext_lazy("Paid")
        FAILED = "failed", gettext_lazy("Failed")
        EXPIRED = "expired", gettext_lazy("Expired")

    public_id = models.CharField(
        gettext_lazy("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    wallet = models.ForeignKey(
        Wallet,
        on_delete=models.PROTECT,
        related_name="payments",
        verbose_name=gettext_lazy("wallet"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=gettext_lazy("created by"),
    )
    amount_cents = models.PositiveIntegerField(gettext_lazy("amount (cents)"))
    credits = models.PositiveBigIntegerField(gettext_lazy("credits"))
    currency = models.CharField(gettext_lazy("currency"), max_length=3, default="usd")
    status = models.CharField(
        gettext_lazy("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    checkout_session_id = models.CharField(
        gettext_lazy("Stripe Checkout session"), max_length=255, unique=True, null=True, blank=True
    )
    payment_intent_id = models.CharField(
        gettext_lazy("Stripe PaymentIntent"), max_length=255, blank=True, db_index=True
    )
    charge_id = models.CharField(
        gettext_lazy("Stripe charge"), max_length=255, blank=True, db_index=True
    )
    refunded_cents = models.PositiveIntegerField(gettext_lazy("refunded (cents)"), default=0)
    disputed_cents = models.PositiveIntegerField(gettext_lazy("disputed (cents)"), default=0)
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)
    paid_at = models.DateTimeField(gettext_lazy("paid at"), null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["wallet", "-created_at"])]
        verbose_name = gettext_lazy("payment")
        verbose_name_plural = gettext_lazy("payments")

    def __str__(self) -> str:
        return f"payment {self.public_id} {self.amount_cents}¢ {self.status}"

    @property
    def credits_microcredits(self) -> int:
        """The whole credits this payment buys, in the unit every page formats."""
        return self.credits * MICROCREDITS_PER_CREDIT


class StripeEvent(models.Model):
    """Every verified webhook delivery, stored (unique by event id) before it is handled."""

    class Status(models.TextChoices):
        RECEIVED = "received", gettext_lazy("Received")
        PROCESSED = "processed", gettext_lazy("Processed")
        IGNORED = "ignored", gettext_lazy("Ignored")
        FAILED = "failed", gettext_lazy("Failed")

    event_id = models.CharField(gettext_lazy("Stripe event id"), max_length=255, unique=True)
    type = models.CharField(gettext_lazy("type"), max_length=100)
    payload = models.JSONField(gettext_lazy("payload"))
    status = models.CharField(
        gettext_lazy("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    error = models.TextField(gettext_lazy("error"), blank=True)
    attempts = models.PositiveIntegerField(gettext_lazy("attempts"), default=0)
    received_at = models.DateTimeField(gettext_lazy("received at"), default=timezone.now)
    processed_at = models.DateTimeField(gettext_lazy("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = gettext_lazy("Stripe event")
        verbose_name_plural = gettext_lazy("Stripe events")

    def __str__(self) -> str:
        return f"{self.type} {self.event_id} ({self.status})"


# --- the price catalog -----------------------------------------------------------------


class Endpoint(models.TextChoices):
    CHAT = "chat.completions", gettext_lazy("Chat Completions")
    MESSAGES = "messages", gettext_lazy("Anthropic Messages")
    RESPONSES = "responses", gettext_lazy("Responses")
    GEMINI = "gemini", "Gemini"
    IMAGES = "images", gettext_lazy("Images")
    VIDEOS = "videos", gettext_lazy("Videos")
    AUDIO = "audio", gettext_lazy("Audio")
    GPU = "gpu", "GPU"


class CatalogModel(models.Model):
    class Family(models.TextChoices):
        CHAT = "chat", gettext_lazy("Chat (OpenAI-compatible)")
        ANTHROPIC = "anthropic", "Anthropic"
        CODEX = "codex", gettext_lazy("Codex / Responses")
        GEMINI = "gemini", "Gemini"
        IMAGE = "image", gettext_lazy("Image")
        VIDEO = "video", gettext_lazy("Video")
        AUDIO = "audio", gettext_lazy("Audio")
        GPU = "gpu", gettext_lazy("Serverless GPU")

    class Pricing(models.TextChoices):
        PER_TOKEN = "per_token", gettext_lazy("Per token")
        PER_IMAGE = "per_image", gettext_lazy("Per image")
        PER_SECOND = "per_second", gettext_lazy("Per second")
        PER_CLIP = "per_clip", gettext_lazy("Per clip")
        PER_REQUEST = "per_request", gettext_lazy("Per request")

    model_id = models.CharField(gettext_lazy("model id"), max_length=100, unique=True)
    display_name = models.CharField(gettext_lazy("display name"), max_length=150)
    family = models.CharField(gettext_lazy("family"), max_length=16, choices=Family.choices)
    endpoints = models.JSONField(
        gettext_lazy("endpoints"),
        default=list,
        help_text=gettext_lazy('Endpoints the model may be called on, e.g. ["chat.completions"].'),
    )
    active = models.BooleanField(gettext_lazy("active"), default=True)
    pricing = models.CharField(gettext_lazy("pricing"), max_length=16, choices=Pricing.choices)
    # per_token: nano-credits per token (credits per million tokens × 1,000).
    input_nanocredits_per_token = models.BigIntegerField(
        gettext_lazy("input price (ncr per token)"), default=0
    )
    output_nanocredits_per_token = models.BigIntegerField(
        gettext_lazy("output price (ncr per token)"), default=0
    )
    # per_image / per_clip / per_request: µcr per unit; per_second: µcr per second.
    unit_microcredits = models.BigIntegerField(gettext_lazy("unit price (µcr)"), default=0)
    # per_image with size tiers, e.g. {"1K": 4000000, "2K": 8000000, "4K": 16000000} (µcr).
    tier_microcredits = models.JSONField(gettext_lazy("size tiers (µcr)"), default=dict, blank=True)
    # per_second: the most seconds one call may be billed for.
    max_seconds = models.PositiveIntegerField(
        gettext_lazy("maximum seconds"), null=True, blank=True
    )
    default_price = models.BooleanField(
        gettext_lazy("example price"),
        default=True,
        help_text=gettext_lazy(
            "Seeded example price, not reviewed yet. Untick after setting the real price."
        ),
    )
    updated_at = models.DateTimeField(gettext_lazy("updated at"), auto_now=True)

    class Meta:
        ordering = ["family", "model_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(input_nanocredits_per_token__gte=0)
                & Q(output_nanocredits_per_token__gte=0)
                & Q(unit_microcredits__gte=0),
                name="billing_catalog_prices_nonnegative",
            ),
        ]
        verbose_name = gettext_lazy("catalog model")
        verbose_name_plural = gettext_lazy("catalog models")

    def __str__(self) -> str:
        return self.model_id


class ModelAlias(models.Model):
    """A legacy or alternative id that resolves to a current model."""

    alias = models.CharField(gettext_lazy("alias"), max_length=100, unique=True)
    model = models.ForeignKey(
        CatalogModel,
        on_delete=models.CASCADE,
        related_name="aliases",
        verbose_name=gettext_lazy("model"),
    )

    class Meta:
        verbose_name_plural = gettext_lazy("model aliases")
        verbose_name = gettext_lazy("model alias")

    def __str__(self) -> str:
        return f"{self.alias} → {self.model.model_id}"


class FallbackTarget(models.Model):
    """One provider target in a model's ordered fallback chain."""

    model = models.ForeignKey(
        CatalogModel,
        on_delete=models.CASCADE,
        related_name="fallbacks",
        verbose_name=gettext_lazy("model"),
    )
    position = models.PositiveSmallIntegerField(gettext_lazy("position"))
    provider = models.CharField(gettext_lazy("provider"), max_length=64)
    region = models.CharField(gettext_lazy("region"), max_length=32, blank=True)
    upstream_model = models.CharField(gettext_lazy("upstream model id"), max_length=100, blank=True)

    class Meta:
        ordering = ["model", "position"]
        constraints = [
            models.UniqueConstraint(fields=["model", "position"], name="billing_fallback_position"),
        ]
        verbose_name = gettext_lazy("fallback target")
        verbose_name_plural = gettext_lazy("fallback targets")

    def __str__(self) -> str:
        return f"{self.model.model_id} #{self.position}: {self.provider} {self.region}"


class Intent(models.Model):
    """A capability bucket (``text-to-image-fast``); the cheapest active member is chosen."""

    name = models.SlugField(gettext_lazy("name"), max_length=64, unique=True)
    description = models.CharField(gettext_lazy("description"), max_length=255, blank=True)
    candidates = models.ManyToManyField(
        CatalogModel,
        related_name="intents",
        blank=True,
        verbose_name=gettext_lazy("candidate models"),
    )

    class Meta:
        verbose_name = gettext_lazy("intent")
        verbose_name_plural = gettext_lazy("intents")

    def __str__(self) -> str:
        return self.name
