from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by audited services only (money, audit, keys): staff read them here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
