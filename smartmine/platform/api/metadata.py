"""What OPTIONS answers on every endpoint (DEFAULT_METADATA_CLASS).

REST_FRAMEWORK settings name this class and DRF loads it while defining APIView, so this module must not
import DRF's views at import time.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request, clone_request
from rest_framework.serializers import BaseSerializer


class ActionMetadata(SimpleMetadata):
    """DRF's description of a view, with `actions` holding each write the caller may make and the body
    fields the view declares for it (`{}` when it declares none: an action without a body).

    DRF's SimpleMetadata checks permissions as the `metadata` action, so every signed-in user seemed
    allowed to write, and then asks for the view's one serializer, which a viewset whose actions take no
    body does not have (a 500). Here each method is checked as the action it is routed to, a serializer is
    asked for only when the view declares one, and the object is never read: OPTIONS costs the
    authentication and the permission check, nothing more.
    """

    def determine_actions(self, request: Request, view) -> dict[str, dict]:
        actions = {}
        routed = getattr(view, "action_map", None)  # viewsets: method -> action
        own_action = getattr(view, "action", None)
        for method in sorted({"PUT", "POST"} & set(view.allowed_methods)):
            view.request = clone_request(request, method)
            if routed is not None:
                view.action = routed.get(method.lower())
            try:
                view.check_permissions(view.request)
            except (exceptions.APIException, PermissionDenied, Http404):
                continue
            else:
                serializer = _declared_serializer(view)
                actions[method] = {} if serializer is None else self.get_serializer_info(serializer)
            finally:
                view.request = request
                if routed is not None:
                    view.action = own_action
        return actions


def _declared_serializer(view) -> BaseSerializer | None:
    """The view's serializer for its current action, or None when a generic view declares none (DRF's own
    get_serializer_class() would fail an assertion)."""
    from rest_framework.generics import GenericAPIView  # not at import time: see the module's docstring

    declares = getattr(view, "serializer_class", None) is not None or (
        type(view).get_serializer_class is not GenericAPIView.get_serializer_class
    )
    if isinstance(view, GenericAPIView) and not declares:
        return None
    return view.get_serializer()
