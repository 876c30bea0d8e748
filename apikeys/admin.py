from django.contrib import admin, messages
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from hypereal_site.admin import ReadOnlyAdmin

from .models import ApiKey, KeyAlert, OwnerRateLimit, ServiceToken
from .services import owner_rate_limit_delete, owner_rate_limit_save, service_token_revoke


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

    @admin.action(description=gettext_lazy("Revoke selected tokens (refused within a second)"))
    def revoke(self, request, queryset) -> None:
        for token in queryset:
            service_token_revoke(token=token, actor=request.user)
        self.message_user(
            request,
            _("Revoked %(count)s token(s).") % {"count": queryset.count()},
            messages.SUCCESS,
        )


@admin.register(OwnerRateLimit)
class OwnerRateLimitAdmin(admin.ModelAdmin):
    list_display = ("organization", "requests_per_minute", "tokens_per_minute", "note")
    search_fields = (
        "organization__name",
        "organization__slug",
        "organization__personal_for__email",
    )
    autocomplete_fields = ("organization",)

    # Through the services, so that every change is audited in the owner's log.
    def save_model(self, request, obj, form, change) -> None:
        owner_rate_limit_save(limit=obj, actor=request.user)

    def delete_model(self, request, obj) -> None:
        owner_rate_limit_delete(limit=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for obj in queryset:
            owner_rate_limit_delete(limit=obj, actor=request.user)


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
