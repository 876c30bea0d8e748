from django.contrib import admin
from django.utils.translation import gettext_lazy

from billing.money import format_credits
from hypereal_site.admin import ReadOnlyAdmin

from . import job_admin  # noqa: F401 - registers the serverless GPU models and the jobs
from .models import Deployment, GpuType


@admin.register(GpuType)
class GpuTypeAdmin(admin.ModelAdmin):
    """The GPU catalog customers choose from; staff set each type's per-second rate (µcr)."""

    list_display = ("code", "name", "memory_gb", "credits_per_second", "provider_gpu_id", "active")
    list_editable = ("active",)
    list_filter = ("active",)
    search_fields = ("code", "name", "provider_gpu_id")
    ordering = ("sort_order", "code")

    @admin.display(
        description=gettext_lazy("Credits per second"), ordering="microcredits_per_second"
    )
    def credits_per_second(self, obj: GpuType) -> str:
        return format_credits(obj.microcredits_per_second, places=6)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deployments name types by code: turn a type off instead of deleting it.
        return False


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    """Customers' deployments, read only (changes go through the audited services)."""

    list_display = ("slug", "organization", "status", "docker_image", "created_at", "deleted_at")
    list_filter = ("status",)
    search_fields = ("slug", "public_id", "organization__name", "provider_endpoint_id")
    exclude = ("env_encrypted", "webhook_secret_encrypted")
    raw_id_fields = ("organization", "created_by")
