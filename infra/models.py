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

    code = models.CharField(max_length=32, unique=True)  # "ADA_48_PRO", as in the API
    name = models.CharField(max_length=100)  # "RTX 6000 Ada, 48 GB"
    memory_gb = models.PositiveIntegerField()
    # µcr per second of one GPU executing a job.
    microcredits_per_second = models.BigIntegerField()
    # The provider's id for this GPU (RunPod's gpuTypeId, e.g. "NVIDIA RTX 6000 Ada Generation").
    provider_gpu_id = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(microcredits_per_second__gt=0), name="infra_gputype_rate_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Deployment(models.Model):
    """A customer's Docker image served on GPUs by the provider (one provider endpoint)."""

    class Status(models.TextChoices):
        DEPLOYING = "deploying", _("Deploying")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        DELETING = "deleting", _("Deleting")

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="deployments"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=100)
    docker_image = models.CharField(max_length=255)
    # GpuType codes in priority order (1 to 3).
    gpu_types = models.JSONField(default=list)
    gpu_count = models.PositiveSmallIntegerField(default=1)
    min_workers = models.PositiveSmallIntegerField(default=0)
    max_workers = models.PositiveSmallIntegerField(default=1)
    idle_timeout_seconds = models.PositiveIntegerField(default=5)
    execution_timeout_seconds = models.PositiveIntegerField(default=600)
    # JSON object of environment variables, encrypted (hypereal_site.crypto); never shown back.
    env_encrypted = EncryptedTextField()
    webhook_url = models.URLField(max_length=500, blank=True)
    # "whsec_…" signing secret for webhook_url, encrypted; shown once at creation.
    webhook_secret_encrypted = EncryptedTextField()
    provider_endpoint_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DEPLOYING)
    # What the status does not say (a provider failure being retried, why it failed): a code
    # of hypereal_site.reasons and its parameters, translated when shown (``status_detail``).
    status_detail_code = models.CharField(max_length=40, blank=True)
    status_detail_params = models.JSONField(default=dict, blank=True)
    # Saved settings the provider has not taken yet (its update failed; the beat task retries).
    provider_sync_pending = models.BooleanField(default=False)
    # When the status last changed: "deploying" for too long turns "failed".
    status_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Soft delete: the provider endpoint is gone, the row stays for its jobs' history and
    # the slug is free again. Hidden from every list and lookup.
    deleted_at = models.DateTimeField(null=True, blank=True)

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
        "billing.CatalogModel", on_delete=models.PROTECT, related_name="serverless_gpu"
    )
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    # The provider endpoint that serves it (operated by us, shared by every customer).
    provider_endpoint_id = models.CharField(max_length=100, blank=True)
    # Calls expected to finish within this many seconds are answered inline; others get 202.
    inline_seconds = models.PositiveIntegerField(default=30)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]

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

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    serverless_model = models.ForeignKey(
        ServerlessGpuModel, null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    api_key = models.ForeignKey(
        "apikeys.ApiKey", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    hold = models.OneToOneField(
        "billing.Hold", null=True, blank=True, on_delete=models.PROTECT, related_name="gpu_job"
    )
    provider_job_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    input = models.JSONField(default=dict)
    output = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    # The GpuType code that ran the job, and how many GPUs (copied at submit).
    gpu_type = models.CharField(max_length=32, blank=True)
    gpu_count = models.PositiveSmallIntegerField(default=1)
    execution_ms = models.BigIntegerField(null=True, blank=True)
    charged_microcredits = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The job may not run past this; its hold expires with it.
    timeout_at = models.DateTimeField()
    # Random per job: the callback URL's token is an HMAC of it (infra.jobs.callback_token).
    callback_nonce = models.CharField(max_length=64, blank=True)
    # The last provider error (timeout, 5xx, malformed answer), kept while it is retried.
    provider_error = models.CharField(max_length=500, blank=True)
    provider_failures = models.PositiveIntegerField(default=0)
    # When the beat poller may next ask the provider (backoff after errors).
    next_check_at = models.DateTimeField(null=True, blank=True)
    # When the hold was captured or released (exactly once).
    settled_at = models.DateTimeField(null=True, blank=True)

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
