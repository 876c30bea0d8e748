"""Admin of the serverless GPU catalog and of GPU jobs (imported from ``infra.admin``).

Prices live on the model's ``billing.CatalogModel`` (edited there, with its "example
price" flag); here staff edit what the catalog page shows and where the model runs.
Jobs are read-only: money moves only through ``infra.jobs``.
"""

from django.contrib import admin

from .models import GpuJob, ServerlessGpuModel


@admin.register(ServerlessGpuModel)
class ServerlessGpuModelAdmin(admin.ModelAdmin):
    list_display = ("slug", "catalog_model", "provider_endpoint_id", "inline_seconds", "active")
    list_filter = ("active",)
    search_fields = ("slug", "description")
    raw_id_fields = ("catalog_model",)


@admin.register(GpuJob)
class GpuJobAdmin(admin.ModelAdmin):
    list_display = (
        "public_id",
        "organization",
        "deployment",
        "serverless_model",
        "status",
        "charged_microcredits",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("public_id", "provider_job_id")
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
