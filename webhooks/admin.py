from django.contrib import admin

from hypereal_site.admin import ReadOnlyAdmin

from .models import WebhookAttempt, WebhookEndpoint, WebhookMessage


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    """Read only: customers manage their endpoints; the secrets never show here."""

    list_display = ("url", "organization", "enabled", "last_success_at", "created_at")
    list_filter = ("enabled",)
    search_fields = ("url", "public_id", "organization__name", "organization__slug")
    exclude = ("secret_encrypted", "previous_secret_encrypted")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "created_at", "status_code", "duration_ms", "error", "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookMessage)
class WebhookMessageAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "event_type", "organization", "status", "attempt_count")
    list_filter = ("status", "event_type")
    search_fields = ("event_id", "organization__name")
    inlines = [WebhookAttemptInline]
