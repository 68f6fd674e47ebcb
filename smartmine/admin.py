"""The audit log in the control room: readable by whoever may view it, changeable by nobody."""

from django.contrib import admin

from smartmine.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_name", "action", "target"]
    list_filter = ["action", "at"]
    search_fields = ["actor_name", "target"]
    date_hierarchy = "at"
    readonly_fields = ["at", "actor", "actor_name", "action", "target", "detail"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
