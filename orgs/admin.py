from django.contrib import admin

from .models import AuditEvent, Invitation, Membership, Organization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("user", "role", "created_at")
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False  # membership changes go through the console so they are audited


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "kind", "created_at", "deleted_at")
    list_filter = ("kind", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "slug", "public_id", "personal_for__email")
    readonly_fields = ("public_id", "kind", "personal_for", "created_at", "deleted_at")
    fields = ("public_id", "kind", "name", "slug", "personal_for", "created_at", "deleted_at")
    inlines = [MembershipInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # renames are audited services; staff read here

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "organization", "role", "created_at", "expires_at", "accepted_at")
    search_fields = ("email", "organization__name", "organization__slug")
    exclude = ("token_hash",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "organization", "action", "actor_label", "target_label")
    list_filter = ("action",)
    search_fields = ("organization__name", "organization__slug", "actor_label", "target_label")
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
