"""Webhook endpoints, the outbox of messages to deliver, and each delivery attempt.

A ``WebhookMessage`` is one event for one destination: an organization's endpoint, or a
deployment's own ``webhook_url`` (for its jobs' events). It is written in the transaction
that produced the event (the outbox), so an event is delivered if and only if its change
committed. ``body`` holds the exact JSON that is signed and sent, every attempt.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hypereal_site.crypto import EncryptedTextField
from hypereal_site.ids import base62, new_public_id
from hypereal_site.reasons import reason_text
from orgs.models import Organization


def new_message_id() -> str:
    """``msg_`` + 24 base62 characters: the ``webhook-id`` header (Standard Webhooks)."""
    return f"msg_{base62(24)}"


class WebhookEndpoint(models.Model):
    public_id = models.CharField(
        _("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("organization"),
    )
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    # Event type names (webhooks.events.EVENT_TYPES) this endpoint receives.
    event_types = models.JSONField(_("event types"), default=list)
    enabled = models.BooleanField(_("enabled"), default=True)
    # Why it is disabled: a code of hypereal_site.reasons and its parameters, translated
    # when shown (``disabled_reason``). Empty while enabled.
    disabled_code = models.CharField(_("reason disabled (code)"), max_length=40, blank=True)
    disabled_params = models.JSONField(_("reason parameters"), default=dict, blank=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    # "whsec_" + base64 of 24 random bytes, encrypted (hypereal_site.crypto); shown once.
    secret_encrypted = EncryptedTextField(_("signing secret (encrypted)"))
    # The secret before the last rotation: still signs (second signature) until then.
    previous_secret_encrypted = EncryptedTextField(_("previous signing secret (encrypted)"))
    previous_secret_until = models.DateTimeField(
        _("previous secret valid until"), null=True, blank=True
    )
    last_success_at = models.DateTimeField(_("last success at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return self.url

    @property
    def disabled_reason(self) -> str:
        """Why it is disabled, in the active language ("" while enabled)."""
        return reason_text(self.disabled_code, self.disabled_params)


class WebhookMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Delivered")
        FAILED = "failed", _("Failed")

    event_id = models.CharField(
        _("message id"), max_length=40, default=new_message_id, editable=False
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="+", verbose_name=_("organization")
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
        verbose_name=_("endpoint"),
    )
    deployment = models.ForeignKey(
        "infra.Deployment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_messages",
        verbose_name=_("deployment"),
    )
    event_type = models.CharField(_("event type"), max_length=64)
    body = models.TextField(_("body"))  # the exact JSON signed and sent
    is_test = models.BooleanField(_("test event"), default=False)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempt_count = models.PositiveIntegerField(_("attempts"), default=0)
    # Attempts made before the current round of retries ("Resend" starts a new round).
    round_start = models.PositiveIntegerField(_("attempts before this round"), default=0)
    # When the next attempt is due (NULL once delivered or given up). While an attempt is
    # in flight it is pushed past the attempt's timeout: a lease the sweeper respects.
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(
        _("last HTTP status"), null=True, blank=True
    )
    # Why the last attempt failed: a code of hypereal_site.reasons and its parameters,
    # translated when shown (``last_error``). Empty after a success.
    last_error_code = models.CharField(_("last error"), max_length=40, blank=True)
    last_error_params = models.JSONField(_("last error's details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(endpoint__isnull=False) ^ Q(deployment__isnull=False),
                name="webhooks_message_one_target",
            ),
            models.UniqueConstraint(
                fields=["event_id", "endpoint"],
                condition=Q(endpoint__isnull=False),
                name="webhooks_message_once_per_endpoint",
            ),
            models.UniqueConstraint(
                fields=["event_id", "deployment"],
                condition=Q(deployment__isnull=False),
                name="webhooks_message_once_per_deployment",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["endpoint", "-created_at"]),
            # A deployment's delivery log (webhooks.selectors.deployment_messages).
            models.Index(fields=["deployment", "-created_at"], name="webhooks_msg_deployment_idx"),
        ]
        verbose_name = _("webhook message")
        verbose_name_plural = _("webhook messages")

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"

    @property
    def last_error(self) -> str:
        """Why the last attempt failed, in the active language ("" for none)."""
        return reason_text(self.last_error_code, self.last_error_params)


class WebhookAttempt(models.Model):
    RESPONSE_EXCERPT_CHARS = 1000

    message = models.ForeignKey(
        WebhookMessage, on_delete=models.CASCADE, related_name="attempts", verbose_name=_("message")
    )
    number = models.PositiveIntegerField(_("attempt"))
    url = models.CharField(_("URL"), max_length=500)
    succeeded = models.BooleanField(_("succeeded"), default=False)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    response_excerpt = models.TextField(
        _("response excerpt"), blank=True
    )  # at most RESPONSE_EXCERPT_CHARS
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    # Why it failed: a code of hypereal_site.reasons (``timed_out``, ``http_status``…) and
    # its parameters, translated when shown (``error``). Empty for a success.
    error_code = models.CharField(_("error"), max_length=40, blank=True)
    error_params = models.JSONField(_("error's details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["message", "number"], name="webhooks_attempt_number"),
        ]
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message_id}"

    @property
    def error(self) -> str:
        """Why it failed, in the active language ("" for a success)."""
        return reason_text(self.error_code, self.error_params)
