"""The dashboard page and the one read-only endpoint its map needs that the REST API does not serve."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.permissions import ACKNOWLEDGE_ALERT, DECIDE_RECOMMENDATION
from fleet.choices import LIGHT_STATUSES, STATUS_COLOURS, UNKNOWN_STATUS_COLOUR
from smartmine.dashboard.selectors import site_layout
from smartmine.platform.api.filters import is_id


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The live operations page; sign-in first unless the demo's anonymous read is on (like the API)."""
    user = request.user
    if not user.is_authenticated and not settings.API_ALLOW_ANONYMOUS_READ:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    site = request.GET.get("site", "")
    config = {
        "wsPath": "/ws/live/",
        "site": int(site) if is_id(site) else None,
        "loginUrl": f"{reverse('admin:login')}?{urlencode({'next': request.get_full_path()})}",
        "canAcknowledge": user.has_perm(ACKNOWLEDGE_ALERT),
        "canDecide": user.has_perm(DECIDE_RECOMMENDATION),
        "username": user.get_username() if user.is_authenticated else None,
        "statusColours": STATUS_COLOURS,
        "lightStatuses": sorted(LIGHT_STATUSES),
        "unknownStatusColour": UNKNOWN_STATUS_COLOUR,
    }
    return render(request, "dashboard/index.html", {"config": config})


class SiteLayoutView(APIView):
    """GET /api/sites/{id}/layout: what the map draws under the moving equipment."""

    @extend_schema(
        summary="A site's layout for maps: zones, haul roads, waste dumps and fuel bays",
        description=(
            "Read-only and static between ticks: zone polygons and faces, haul road polylines ([[lat, lon], "
            "...] from start to end node), waste dumps and fuel bays. Equipment positions come from the "
            "equipment lists or the live snapshot."
        ),
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, pk: str) -> Response:
        return Response(site_layout(int(pk)))
