from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy

from hypereal_site.ids import new_public_id
from hypereal_site.reasons import reason_text
from orgs.models import Organization


class ApiKey(models.Model):
    """A ``ck_`` key. Belongs to one owner (personal account or organization)."""

    class Status(models.TextChoices):
        ACTIVE = "active", gettext_lazy("Active")
        DISABLED = "disabled", gettext_lazy("Disabled")
        REVOKED = "revoked", gettext_lazy("Revoked")

    public_id = models.CharField(
        gettext_lazy("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="api_keys",
        verbose_name=gettext_lazy("organization"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=gettext_lazy("created by"),
    )
    name = models.CharField(gettext_lazy("name"), max_length=100)
    # "ck_" + first 4 + "…" + last 4: all the console ever shows after creation.
    masked = models.CharField(gettext_lazy("masked key"), max_length=16)
    secret_hash = models.CharField(gettext_lazy("secret hash"), max_length=64, unique=True)
    # After a rotation the previous secret keeps working until previous_valid_until.
    previous_secret_hash = models.CharField(
        gettext_lazy("previous secret hash"), max_length=64, unique=True, null=True, blank=True
    )
    previous_valid_until = models.DateTimeField(
        gettext_lazy("previous secret valid until"), null=True, blank=True
    )
    status = models.CharField(
        gettext_lazy("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    # Why it is disabled: a code of hypereal_site.reasons and its parameters, translated
    # when shown (``disabled_reason``). Empty unless disabled.
    disabled_code = models.CharField(
        gettext_lazy("reason disabled (code)"), max_length=40, blank=True
    )
    disabled_params = models.JSONField(gettext_lazy("reason parameters"), default=dict, blank=True)
    spending_limit_microcredits = models.BigIntegerField(
        gettext_lazy("monthly cap (µcr)"), null=True, blank=True
    )
    auto_disable = models.BooleanField(gettext_lazy("disable at the cap"), default=False)
    expires_at = models.DateTimeField(gettext_lazy("expires at"), null=True, blank=True)
    allowed_models = models.JSONField(
        gettext_lazy("allowed models"), default=list, blank=True
    )  # empty: every model
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)
    revoked_at = models.DateTimeField(gettext_lazy("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(gettext_lazy("last used at"), null=True, blank=True)
    # Written by verification at most once a minute: after Redis lost its data, a capped key
    # verified within the reservation TTL may have calls in flight (apikeys.reservations).
    last_verified_at = models.DateTimeField(gettext_lazy("last verified at"), null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(spending_limit_microcredits__isnull=True)
                | Q(spending_limit_microcredits__gt=0),
                name="apikeys_limit_positive",
            ),
            # Revoking asks for the key's name, so it must pick one active key.
            models.UniqueConstraint(
                "organization",
                Lower("name"),
                condition=Q(revoked_at__isnull=True),
                name="apikeys_name_unique_active",
            ),
        ]
        indexes = [models.Index(fields=["organization", "status"])]
        verbose_name = gettext_lazy("API key")
        verbose_name_plural = gettext_lazy("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    @property
    def disabled_reason(self) -> str:
        """Why it is disabled, in the active language ("" unless disabled)."""
        return reason_text(self.disabled_code, self.disabled_params)


class KeyMonthSpend(models.Model):
    """A key's spend in one calendar month (UTC); the cap compares against it."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="month_spend")
    period = models.CharField(max_length=7)  # "YYYY-MM"
    spend_microcredits = models.BigIntegerField(default=0)
    # Charged beyond the calls' reservations (their estimates were not a worst case).
    overshoot_microcredits = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "period"], name="apikeys_spend_key_period"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.period}: {self.spend_microcredits} µcr"


class KeyAlert(models.Model):
    """A cap alert that fired. Unique per key, month and level, so it fires exactly once
    however many usage batches cross the line at the same time."""

    class Level(models.IntegerChoices):
        # Not formatted with %: "80% h…" only looks like a placeholder to xgettext.
        # xgettext:no-python-format
        HEADS_UP = 80, gettext_lazy("80% heads-up")
        # xgettext:no-python-format
        CAP = 100, gettext_lazy("100% cap reached")

    key = models.ForeignKey(
        ApiKey,
        on_delete=models.CASCADE,
        related_name="alerts",
        verbose_name=gettext_lazy("API key"),
    )
    period = models.CharField(gettext_lazy("month"), max_length=7)
    level = models.PositiveSmallIntegerField(gettext_lazy("level"), choices=Level.choices)
    spend_microcredits = models.BigIntegerField(gettext_lazy("spend (µcr)"))
    limit_microcredits = models.BigIntegerField(gettext_lazy("cap (µcr)"))
    key_disabled = models.BooleanField(gettext_lazy("key disabled"), default=False)
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "period", "level"], name="apikeys_alert_once_per_month"
            ),
        ]
        verbose_name = gettext_lazy("key alert")
        verbose_name_plural = gettext_lazy("key alerts")

    def __str__(self) -> str:
        return f"{self.key} {self.period} {self.level}%"


class ServiceToken(models.Model):
    """A ``svc_`` token of the inference plane for ``/internal/v1/``."""

    name = models.CharField(gettext_lazy("name"), max_length=100, unique=True)
    token_hash = models.CharField(gettext_lazy("token hash"), max_length=64, unique=True)
    prefix = models.CharField(gettext_lazy("prefix"), max_length=12)
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)
    revoked_at = models.DateTimeField(gettext_lazy("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(gettext_lazy("last used at"), null=True, blank=True)

    class Meta:
        verbose_name = gettext_lazy("service token")
        verbose_name_plural = gettext_lazy("service tokens")

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class OwnerRateLimit(models.Model):
    """Per-owner override of the default rate-limit tier (settings.RATE_LIMIT_DEFAULT)."""

    organization = models.OneToOneField(
        Organization,
        on_delete=models.CASCADE,
        related_name="rate_limit",
        verbose_name=gettext_lazy("organization"),
    )
    requests_per_minute = models.PositiveIntegerField(gettext_lazy("requests per minute"))
    tokens_per_minute = models.PositiveIntegerField(gettext_lazy("tokens per minute"))
    note = models.CharField(gettext_lazy("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = gettext_lazy("rate limit")
        verbose_name_plural = gettext_lazy("rate limits")

    def __str__(self) -> str:
        return f"{self.organization}: {self.requests_per_minute} rpm, {self.tokens_per_minute} tpm"


class PendingSettlement(models.Model):
    """A settlement of the reservation counters that the store refused after its
    transaction committed (Redis down at that moment): the reservations to release and the
    counters to move, kept here until the beat tasks apply it (``reservations
    .settle_pending``). PostgreSQL already holds the money; only the counters wait."""

    reservation_ids = models.JSONField(default=list)
    spend = models.JSONField(default=list)  # [[key pk, "YYYY-MM", µcr], ...]
    wallets = models.JSONField(default=list)  # [[organization pk, µcr of available], ...]
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"settlement {self.pk} ({len(self.reservation_ids)} reservations)"
