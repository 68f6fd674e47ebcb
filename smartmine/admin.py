"""The audit log in the control room: readable by whoever may view it, changeable by nobody."""

from django.contrib import admin
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from smartmine import audit
from smartmine.models import AuditAction, AuditEntry


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


# Beat schedule changes (tick intervals, retraining times) are operator actions too: audit them.
admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class AuditedPeriodicTaskAdmin(PeriodicTaskAdmin):
    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        changed = {name: str(form.cleaned_data.get(name)) for name in form.changed_data}
        audit.record(actor=request.user, action=AuditAction.SCHEDULE_CHANGE, targets=[obj], changed=changed)

    def delete_model(self, request, obj) -> None:
        audit.record(actor=request.user, action=AuditAction.SCHEDULE_CHANGE, targets=[obj], deleted=True)
        super().delete_model(request, obj)
