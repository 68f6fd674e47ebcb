"""Admin building blocks every app's admin uses."""

from __future__ import annotations

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """A page or inline nobody may add to, change or delete from: reading history, the audit log, what the
    system raises. Viewing still needs the model's view permission."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
