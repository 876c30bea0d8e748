from django.contrib import admin, messages

from hypereal_site.admin import ReadOnlyAdmin

from .models import ApiKey, KeyAlert, OwnerRateLimit, ServiceToken
from .services import service_token_revoke
from .verification import invalidate_organization


@admin.register(ServiceToken)
class ServiceTokenAdmin(admin.ModelAdmin):
    """Tokens are created with ``manage.py create_service_token NAME`` (printed once)."""

    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("token_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens (refused within a second)")
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            service_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).", messages.SUCCESS)


@admin.register(OwnerRateLimit)
class OwnerRateLimitAdmin(admin.ModelAdmin):
    list_display = ("organization", "requests_per_minute", "tokens_per_minute", "note")
    search_fields = (
        "organization__name",
        "organization__slug",
        "organization__personal_for__email",
    )
    autocomplete_fields = ("organization",)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        invalidate_organization(obj.organization_id)

    def delete_model(self, request, obj) -> None:
        org_id = obj.organization_id
        super().delete_model(request, obj)
        invalidate_organization(org_id)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = ("name", "masked", "organization", "status", "created_at", "last_used_at")
    list_filter = ("status",)
    search_fields = ("name", "masked", "public_id", "organization__name")
    exclude = ("secret_hash", "previous_secret_hash")


@admin.register(KeyAlert)
class KeyAlertAdmin(ReadOnlyAdmin):
    list_display = ("key", "period", "level", "spend_microcredits", "key_disabled", "created_at")
    list_filter = ("level", "period")
