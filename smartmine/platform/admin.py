"""The audit log in the control room: readable by whoever may view it, changeable by nobody.

Also two third-party pages made safe: the beat schedule (audited) and failed-login attempts.
"""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from smartmine.platform import audit
from smartmine.platform.admin_mixins import ReadOnlyAdminMixin
from smartmine.platform.models import AuditAction, AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "actor_name", "action", "target"]
    list_filter = ["action", "at"]
    search_fields = ["actor_name", "target"]
    date_hierarchy = "at"
    readonly_fields = ["at", "actor", "actor_name", "action", "target", "detail"]


# Beat schedule changes (tick intervals, retraining times) are operator actions too: audit them.
admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class AuditedPeriodicTaskAdmin(PeriodicTaskAdmin):
    """django-celery-beat's schedule page, audited, with its bulk actions behind the change permission.

    Upstream, enable/disable/toggle/run need only the view permission and write with queryset updates that
    bypass save_model, so a reader could switch the tick or retraining off and leave no trace.
    """

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        changed = {name: str(form.cleaned_data.get(name)) for name in form.changed_data}
        audit.record(actor=request.user, action=AuditAction.SCHEDULE_CHANGE, targets=[obj], changed=changed)

    def delete_model(self, request, obj) -> None:
        audit.record(actor=request.user, action=AuditAction.SCHEDULE_CHANGE, targets=[obj], deleted=True)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        audit.record(actor=request.user, action=AuditAction.SCHEDULE_CHANGE, targets=queryset, deleted=True)
        super().delete_queryset(request, queryset)

    @admin.action(description=PeriodicTaskAdmin.enable_tasks.short_description, permissions=["change"])
    def enable_tasks(self, request, queryset) -> None:
        with transaction.atomic():
            _record_enabled(request, queryset.filter(enabled=False), enabled=True)
            super().enable_tasks(request, queryset)

    @admin.action(description=PeriodicTaskAdmin.disable_tasks.short_description, permissions=["change"])
    def disable_tasks(self, request, queryset) -> None:
        with transaction.atomic():
            _record_enabled(request, queryset.filter(enabled=True), enabled=False)
            super().disable_tasks(request, queryset)

    @admin.action(description=PeriodicTaskAdmin.toggle_tasks.short_description, permissions=["change"])
    def toggle_tasks(self, request, queryset) -> None:
        with transaction.atomic():
            _record_enabled(request, queryset.filter(enabled=False), enabled=True)
            _record_enabled(request, queryset.filter(enabled=True), enabled=False)
            super().toggle_tasks(request, queryset)

    @admin.action(description=PeriodicTaskAdmin.run_tasks.short_description, permissions=["change"])
    def run_tasks(self, request, queryset) -> None:
        audit.record(actor=request.user, action=AuditAction.SCHEDULE_CHANGE, targets=queryset, run_now=True)
        super().run_tasks(request, queryset)


def _record_enabled(request: HttpRequest, tasks, *, enabled: bool) -> None:
    """One entry per task whose `enabled` flips, in the shape save_model records form changes."""
    changed = {"enabled": str(enabled)}
    audit.record(actor=request.user, action=AuditAction.SCHEDULE_CHANGE, targets=tasks, changed=changed)


admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class FailedLoginAdmin(AccessAttemptAdmin):
    """django-axes' page, with its clean-up action working and behind the delete permission."""

    @admin.action(
        description=AccessAttemptAdmin.cleanup_expired_attempts.short_description, permissions=["delete"]
    )
    def cleanup_expired_attempts(self, request, queryset) -> None:
        # Upstream reads the time of the login being checked, which only a login request carries: without it
        # the action fails with a 500. "Expired" is measured from now here.
        request.axes_attempt_time = timezone.now()
        super().cleanup_expired_attempts(request, queryset)
