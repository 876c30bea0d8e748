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

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="api_keys"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=100)
    # "ck_" + first 4 + "…" + last 4: all the console ever shows after creation.
    masked = models.CharField(max_length=16)
    secret_hash = models.CharField(max_length=64, unique=True)
    # After a rotation the previous secret keeps working until previous_valid_until.
    previous_secret_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # Why it is disabled: a code of hypereal_site.reasons and its parameters, translated
    # when shown (``disabled_reason``). Empty unless disabled.
    disabled_code = models.CharField(max_length=40, blank=True)
    disabled_params = models.JSONField(default=dict, blank=True)
    spending_limit_microcredits = models.BigIntegerField(null=True, blank=True)
    auto_disable = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    allowed_models = models.JSONField(default=list, blank=True)  # empty: every model
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Written by verification at most once a minute: after Redis lost its data, a capped key
    # verified within the reservation TTL may have calls in flight (apikeys.reservations).
    last_verified_at = models.DateTimeField(null=True, blank=True)

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

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="alerts")
    period = models.CharField(max_length=7)
    level = models.PositiveSmallIntegerField(choices=Level.choices)
    spend_microcredits = models.BigIntegerField()
    limit_microcredits = models.BigIntegerField()
    key_disabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "period", "level"], name="apikeys_alert_once_per_month"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.period} {self.level}%"


class ServiceToken(models.Model):
    """A ``svc_`` token of the inference plane for ``/internal/v1/``."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class OwnerRateLimit(models.Model):
    """Per-owner override of the default rate-limit tier (settings.RATE_LIMIT_DEFAULT)."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="rate_limit"
    )
    requests_per_minute = models.PositiveIntegerField()
    tokens_per_minute = models.PositiveIntegerField()
    note = models.CharField(max_length=255, blank=True)

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
