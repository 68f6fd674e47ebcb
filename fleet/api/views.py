"""Fleet endpoints: sites, pit zones, loaders, trucks, equipment history and telemetry ingest.

Views are thin: filtersets narrow, selectors read (the same rows as the live updates), services write.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet import ingest, selectors, services
from fleet.api import filters, serializers
from fleet.api.equipment import (
    HandBackMixin,
    HistoryMixin,
    StatusActionsMixin,
    hand_back_schema,
    history_schema,
    status_actions_schema,
)
from fleet.choices import CHANGE_EQUIPMENT_STATUS, CONTROL_SIMULATION, INGEST_TELEMETRY
from fleet.models import Loader, MiningZone, Site, Truck
from fleet.telemetry import MAX_BATCH
from smartmine.platform.api.errors import PayloadTooLarge
from smartmine.platform.api.permissions import ScopedThrottle
from smartmine.platform.api.schema import error_response
from smartmine.platform.api.viewsets import ReadModelListMixin, RowsViewSet

# --- Sites and zones


@extend_schema_view(
    list=extend_schema(summary="Mine sites"),
    retrieve=extend_schema(summary="One mine site"),
    partial_update=extend_schema(
        summary="Change a site's dispatch strategy or pause/resume its simulation",
        description=(
            "Engineers only: fleet.change_site, and fleet.control_simulation to change `paused`. Pausing "
            "also disables the site's beat entry, so no tick is even queued."
        ),
        request=serializers.SiteUpdateSerializer,
        responses={200: serializers.SiteSerializer},
    ),
)
class SiteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Site.objects.order_by("name")
    serializer_class = serializers.SiteSerializer
    lookup_value_regex = r"\d+"
    action_permissions = {"partial_update": "fleet.change_site"}
    http_method_names = ["get", "patch", "head", "options"]

    def partial_update(self, request: Request, pk: str) -> Response:
        site = self.get_object()
        update = serializers.SiteUpdateSerializer(data=request.data)
        update.is_valid(raise_exception=True)
        changes = update.validated_data
        if "paused" in changes and not request.user.has_perm(CONTROL_SIMULATION):
            raise exceptions.PermissionDenied("Pausing a site needs fleet.control_simulation.")
        if "dispatch_strategy" in changes:
            services.set_dispatch_strategy(
                site=site, strategy=changes["dispatch_strategy"], actor=request.user
            )
        if "paused" in changes:
            services.set_site_paused(sites=[site], paused=changes["paused"], actor=request.user)
        site.refresh_from_db()
        return Response(serializers.SiteSerializer(site).data)


@extend_schema_view(
    list=extend_schema(summary="Pit zones: tonnes left, grade, status"),
    retrieve=extend_schema(summary="One pit zone"),
)
class ZoneViewSet(ReadModelListMixin, viewsets.ReadOnlyModelViewSet):
    read_model = "zones"
    queryset = MiningZone.objects.order_by("site_id", "name")
    serializer_class = serializers.ZoneSerializer
    filterset_class = filters.ZoneFilterSet
    lookup_value_regex = r"\d+"


# --- Equipment


@extend_schema_view(
    list=extend_schema(summary="Loaders: current state (the rows of the live fleet stream)"),
    retrieve=extend_schema(summary="One loader's current state"),
    **status_actions_schema(serializers.LoaderRowSerializer, "loader"),
)
class LoaderViewSet(StatusActionsMixin, RowsViewSet):
    queryset = Loader.objects.order_by("site_id", "name")
    serializer_class = serializers.LoaderRowSerializer
    filterset_class = filters.LoaderFilterSet
    rows = staticmethod(selectors.loader_rows)
    read_model = "loaders"
    action_permissions = {
        "maintenance": CHANGE_EQUIPMENT_STATUS,
        "return_to_service": CHANGE_EQUIPMENT_STATUS,
    }


@extend_schema_view(
    list=extend_schema(
        summary="Trucks: current state (the rows of the live fleet stream)",
        description="Position, status, payload, fuel, health ... of every truck, filtered and paginated.",
    ),
    retrieve=extend_schema(summary="One truck's current state"),
    readings=history_schema("truck"),
    **status_actions_schema(serializers.TruckRowSerializer, "truck"),
    **hand_back_schema(serializers.TruckRowSerializer, "truck"),
)
class TruckViewSet(HistoryMixin, StatusActionsMixin, HandBackMixin, RowsViewSet):
    queryset = Truck.objects.order_by("site_id", "name")
    serializer_class = serializers.TruckRowSerializer
    filterset_class = filters.TruckFilterSet
    rows = staticmethod(selectors.truck_rows)
    read_model = "trucks"
    history_kind = "truck"
    action_permissions = {
        "maintenance": CHANGE_EQUIPMENT_STATUS,
        "return_to_service": CHANGE_EQUIPMENT_STATUS,
        "hand_back": CHANGE_EQUIPMENT_STATUS,
    }


# --- Telemetry


class TelemetryView(APIView):
    """POST /api/telemetry: readings from real equipment, through the one bulk ingestion path."""

    throttle_classes = [ScopedThrottle]
    throttle_scope = "telemetry"
    action_permissions = {"post": INGEST_TELEMETRY}

    @extend_schema(
        summary="Ingest a batch of telemetry from equipment gateways",
        description=(
            f"Up to {MAX_BATCH} readings of trucks, crushers and stockpiles in one batch. Every item is "
            "validated (kind, equipment id, ISO 8601 time with a zone, status, every sensor of the kind "
            "within its physical range and the equipment's tank or capacity); good items are stored even "
            "when others are rejected. Idempotent on (equipment, ts): re-sending a reading stores nothing "
            "new and counts it under `duplicates`. Equipment that sends telemetry is marked live and the "
            "simulator stops moving it. Needs a gateway token (fleet.ingest_telemetry, the Gateways group)."
        ),
        request=serializers.TelemetryBatchSerializer,
        responses={
            200: serializers.TelemetryReportSerializer,
            413: error_response(413),
        },
    )
    def post(self, request: Request) -> Response:
        items = request.data.get("readings") if isinstance(request.data, dict) else None
        if not isinstance(items, list):
            raise exceptions.ValidationError({"readings": ["required: a list of readings"]})
        if len(items) > MAX_BATCH:
            raise PayloadTooLarge(
                f"A telemetry batch holds at most {MAX_BATCH} readings; this one has {len(items)}."
            )
        report = ingest.ingest_telemetry(items=items)
        return Response(serializers.TelemetryReportSerializer(report).data)
