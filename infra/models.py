"""GPU infrastructure: GPU types, customer deployments, serverless GPU models, GPU jobs.

Money never lives here: a job's credits are a ``billing.Hold`` placed at submit and
captured (or released) exactly once when the job reaches a final state (docs/gpu.md).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hypereal_site.crypto import EncryptedTextField
from hypereal_site.ids import new_public_id
from hypereal_site.reasons import reason_text
from hypereal_site.text import isolate
from orgs.models import Organization


class GpuType(models.Model):
    """One GPU a deployment may ask for, with the per-second rate customers pay for it."""

    code = models.CharField(_("code"), max_length=32, unique=True)  # "ADA_48_PRO", as in the API
    name = models.CharField(_("name"), max_length=100)  # "RTX 6000 Ada, 48 GB"
    memory_gb = models.PositiveIntegerField(_("memory (GB)"))
    # µcr per second of one GPU executing a job.
    microcredits_per_second = models.BigIntegerField(_("rate (µcr per second)"))
    # The provider's id for this GPU (RunPod's gpuTypeId, e.g. "NVIDIA RTX 6000 Ada Generation").
    provider_gpu_id = models.CharField(_("provider's GPU id"), max_length=100)
    active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("sort order"), default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(microcredits_per_second__gt=0), name="infra_gputype_rate_positive"
            ),
        ]
        verbose_name = _("GPU type")
        verbose_name_plural = _("GPU types")

    def __str__(self) -> str:
        return self.code


class Deployment(models.Model):
    """A customer's Docker image served on GPUs by the provider (one provider endpoint)."""

    class Status(models.TextChoices):
        DEPLOYING = "deploying", _("Deploying")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        DELETING = "deleting", _("Deleting")

    public_id = models.CharField(
        _("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="deployments",
        verbose_name=_("organization"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    slug = models.SlugField(_("address name"), max_length=64)
    name = models.CharField(_("name"), max_length=100)
    docker_image = models.CharField(_("Docker image"), max_length=255)
    # GpuType codes in priority order (1 to 3).
    gpu_types = models.JSONField(_("GPU types"), default=list)
    gpu_count = models.PositiveSmallIntegerField(_("GPUs per worker"), default=1)
    min_workers = models.PositiveSmallIntegerField(_("minimum workers"), default=0)
    max_workers = models.PositiveSmallIntegerField(_("maximum workers"), default=1)
    idle_timeout_seconds = models.PositiveIntegerField(_("idle timeout (seconds)"), default=5)
    execution_timeout_seconds = models.PositiveIntegerField(
        _("execution timeout (seconds)"), default=600
    )
    # JSON object of environment variables, encrypted (hypereal_site.crypto); never shown back.
    env_encrypted = EncryptedTextField(_("environment variables (encrypted)"))
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True)
    # "whsec_…" signing secret for webhook_url, encrypted; shown once at creation.
    webhook_secret_encrypted = EncryptedTextField(_("webhook signing secret (encrypted)"))
    provider_endpoint_id = models.CharField(_("provider endpoint id"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DEPLOYING
    )
    # What the status does not say (a provider failure being retried, why it failed): a code
    # of hypereal_site.reasons and its parameters, translated when shown (``status_detail``).
    status_detail_code = models.CharField(_("status detail"), max_length=40, blank=True)
    status_detail_params = models.JSONField(_("status detail's details"), default=dict, blank=True)
    # Saved settings the provider has not taken yet (its update failed; the beat task retries).
    provider_sync_pending = models.BooleanField(_("provider update pending"), default=False)
    # When the status last changed: "deploying" for too long turns "failed".
    status_changed_at = models.DateTimeField(_("status changed at"), default=timezone.now)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Soft delete: the provider endpoint is gone, the row stays for its jobs' history and
    # the slug is free again. Hidden from every list and lookup.
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "slug"],
                condition=Q(deleted_at__isnull=True),
                name="infra_deployment_slug_per_org",
            ),
            models.CheckConstraint(
                condition=Q(min_workers__lte=models.F("max_workers")),
                name="infra_deployment_workers_order",
            ),
            models.CheckConstraint(condition=Q(gpu_count__gte=1), name="infra_deployment_gpus"),
        ]
        verbose_name = _("deployment")
        verbose_name_plural = _("deployments")

    def __str__(self) -> str:
        return self.slug

    @property
    def status_detail(self) -> str:
        """The status detail in the active language ("" for none)."""
        return reason_text(self.status_detail_code, self.status_detail_params)


class ServerlessGpuModel(models.Model):
    """A hosted model at ``/v1/gpu/{slug}``; its price is its ``billing.CatalogModel``
    (family ``gpu``: per request, or per second capped at ``max_seconds``)."""

    catalog_model = models.OneToOneField(
        "billing.CatalogModel",
        on_delete=models.PROTECT,
        related_name="serverless_gpu",
        verbose_name=_("catalog model"),
    )
    slug = models.SlugField(_("address name"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    # The provider endpoint that serves it (operated by us, shared by every customer).
    provider_endpoint_id = models.CharField(_("provider endpoint id"), max_length=100, blank=True)
    # Calls expected to finish within this many seconds are answered inline; others get 202.
    inline_seconds = models.PositiveIntegerField(_("inline answer within (seconds)"), default=30)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = _("serverless GPU model")
        verbose_name_plural = _("serverless GPU models")

    def __str__(self) -> str:
        return self.slug


class GpuJob(models.Model):
    """One job on a deployment or a serverless model, and the hold that pays for it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELED = "canceled", _("Canceled")
        TIMED_OUT = "timed_out", _("Timed out")

    FINAL = frozenset({"succeeded", "failed", "canceled", "timed_out"})

    public_id = models.CharField(
        _("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", verbose_name=_("organization")
    )
    deployment = models.ForeignKey(
        Deployment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
        verbose_name=_("deployment"),
    )
    serverless_model = models.ForeignKey(
        ServerlessGpuModel,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="jobs",
        verbose_name=_("serverless model"),
    )
    api_key = models.ForeignKey(
        "apikeys.ApiKey",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("API key"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    hold = models.OneToOneField(
        "billing.Hold",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="gpu_job",
        verbose_name=_("hold"),
    )
    provider_job_id = models.CharField(_("provider job id"), max_length=100, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    input = models.JSONField(_("input"), default=dict)
    output = models.JSONField(_("output"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=1000, blank=True)
    # The GpuType code that ran the job, and how many GPUs (copied at submit).
    gpu_type = models.CharField(_("GPU type"), max_length=32, blank=True)
    gpu_count = models.PositiveSmallIntegerField(_("GPUs"), default=1)
    execution_ms = models.BigIntegerField(_("execution time (ms)"), null=True, blank=True)
    charged_microcredits = models.BigIntegerField(_("charged (µcr)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # The job may not run past this; its hold expires with it.
    timeout_at = models.DateTimeField(_("times out at"))
    # Random per job: the callback URL's token is an HMAC of it (infra.jobs.callback_token).
    callback_nonce = models.CharField(_("callback nonce"), max_length=64, blank=True)
    # The last provider error (timeout, 5xx, malformed answer), kept while it is retried.
    provider_error = models.CharField(_("last provider error"), max_length=500, blank=True)
    provider_failures = models.PositiveIntegerField(_("provider failures"), default=0)
    # When the beat poller may next ask the provider (backoff after errors).
    next_check_at = models.DateTimeField(_("next check at"), null=True, blank=True)
    # When the hold was captured or released (exactly once).
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(deployment__isnull=False) ^ Q(serverless_model__isnull=False),
                name="infra_job_one_target",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "timeout_at"]),
            models.Index(fields=["organization", "-created_at"]),
        ]
        verbose_name = _("GPU job")
        verbose_name_plural = _("GPU jobs")

    def __str__(self) -> str:
        return f"job {self.public_id} ({self.status})"

    def error_text(self) -> str:
        """The error in the reader's language. The sentences the console writes (a
        timeout, a cancellation, an expired hold, a refusal by the provider) are stored in
        English, as the API and the webhooks give them, and translated here for the pages;
        the provider's or the worker's own words are shown as they are."""
        known = JOB_ERRORS.get(self.error)
        if known is not None:
            return str(known)
        if self.error.startswith(PROVIDER_REFUSED):
            detail = self.error[len(PROVIDER_REFUSED) :]
            return _("The provider refused it: %(error)s") % {"error": isolate(detail)}
        return self.error


#: The sentences the console stores on a failed or cancelled job (infra.jobs), in English,
#: and what the pages show.
JOB_HOLD_EXPIRED = "The job's credit hold expired before it finished; nothing was charged."
JOB_TIMED_OUT = "The job did not finish within its execution timeout; nothing was charged."
JOB_CANCELLED_EARLY = "Cancelled before it started."
JOB_CANCELLED = "Cancelled."
PROVIDER_REFUSED = "The provider refused it: "
JOB_ERRORS = {
    JOB_HOLD_EXPIRED: _("The job's credit hold expired before it finished; nothing was charged."),
    JOB_TIMED_OUT: _("The job did not finish within its execution timeout; nothing was charged."),
    JOB_CANCELLED_EARLY: _("Cancelled before it started."),
    JOB_CANCELLED: _("Cancelled."),
}
