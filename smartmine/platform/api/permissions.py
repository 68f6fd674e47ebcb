"""Who may do what through the API: reads for signed-in users, each write naming its permission; throttles.

REST_FRAMEWORK settings name these classes, and DRF loads them while defining APIView, so this module must not
import DRF's views.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle


class RolePermission(BasePermission):
    """Reads for any signed-in user (and anonymous ones in the demo, API_ALLOW_ANONYMOUS_READ); each write
    names the permission(s) it needs in the view's `action_permissions` (by viewset action, or by method on
    a plain APIView). A write that names none is refused: fail closed, never an accidental open door."""

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        if request.method in SAFE_METHODS:
            return bool(user and user.is_authenticated) or settings.API_ALLOW_ANONYMOUS_READ
        if not (user and user.is_authenticated):
            return False
        method = request.method.lower()
        action = getattr(view, "action", None) if hasattr(view, "action_map") else method
        if action is None or not hasattr(view, action):
            return True  # no handler: let DRF answer 405 rather than a misleading 403
        needed = getattr(view, "action_permissions", {}).get(action)
        if needed is None:
            return False
        return user.has_perms((needed,) if isinstance(needed, str) else needed)


class ScopedThrottle(ScopedRateThrottle):
    """Rates per scope from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], counted in the cache."""
