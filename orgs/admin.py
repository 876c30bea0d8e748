from django.contrib import admin

from hypereal_site.admin import ReadOnlyAdmin

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
class OrganizationAdmin(ReadOnlyAdmin):
    list_display = ("name", "slug", "kind", "created_at", "deleted_at")
    list_filter = ("kind", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "slug", "public_id", "personal_for__email")
    readonly_fields = ("public_id", "kind", "personal_for", "created_at", "deleted_at")
    fields = ("public_id", "kind", "name", "slug", "personal_for", "created_at", "deleted_at")
    inlines = [MembershipInline]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("email", "organization", "role", "created_at", "expires_at", "accepted_at")
    search_fields = ("email", "organization__name", "organization__slug")
    exclude = ("token_hash",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organization", "action", "actor_label", "target_label")
    list_filter = ("action",)
    search_fields = ("organization__name", "organization__slug", "actor_label", "target_label")
    date_hierarchy = "created_at"
