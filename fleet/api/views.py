"""Fleet endpoints: sites, pit zones, loaders, trucks, equipment history and telemetry ingest.

Views are thin: filtersets narrow, selectors read (the same rows as the live updates), services write.
"""

from __future__ import annotations

from django.db.models import Model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fleet import selectors, services
from fleet.api import filters, serializers
from fleet.choices import CHANGE_EQUIPMENT_STATUS, CONTROL_SIMULATION, INGEST_TELEMETRY
from fleet.models import Loader, MiningZone, Site, Truck
from fleet.telemetry import MAX_BATCH
from smartmine.platform.api.errors import Conflict, PayloadTooLarge
from smartmine.platform.api.permissions import ScopedThrottle

# --- Shared by every equipment kind with a history (trucks here, crushers and stockpiles in their apps)
from smartmine.platform.api.schema import error_response
from smartmine.platform.api.viewsets import RowsViewSet


class ReadingCursor(CursorPagination):
    """Raw readings oldest first, a page at a time; the cursor is the last `ts` seen (unique per unit)."""

    ordering = "ts"
    page_size = 1000
    page_size_query_param = "limit"
    max_page_size = 10_000


def history_schema(kind: str):
    raw, bucketed = serializers.HISTORY_SERIALIZERS[kind]
    return extend_schema(
        summary=f"History of one {kind}: raw readings, or buckets aggregated by the database",
        description=(
            "Without `interval`: the raw readings in [from, to), oldest first, paginated by cursor "
            f"(`limit` per page, default 1000). A range holding more than {serializers.RAW_POINTS_LIMIT} "
            "readings is refused with 400 and a suggested interval. With `interval`: avg/min/max per field "
            "per bucket (PostgreSQL date_bin, buckets aligned on midnight UTC), empty buckets left out."
        ),
        parameters=[
            serializers.ReadingQuerySerializer,
            OpenApiParameter("cursor", str, description="opaque; from `next` of the previous page"),
            OpenApiParameter("limit", int, description="raw readings per page (at most 10000)"),
        ],
        responses={
            200: PolymorphicProxySerializer(
                component_name=f"{kind.title()}History",
                serializers=[raw, bucketed],
                resource_type_field_name=None,  # raw without `interval`, buckets with it
            )
        },
    )


class HistoryMixin:
    """GET /api/<equipment>/{id}/readings, for the viewset's `history_kind`."""

    history_kind: str

    @action(detail=True, methods=["get"], url_path="readings", filter_backends=[], pagination_class=None)
    def readings(self, request: Request, pk: str) -> Response:
        model = self.get_queryset().model
        equipment = get_object_or_404(model.objects.only("id", "name", "last_reading_at"), pk=pk)
        query = serializers.ReadingQuerySerializer(
            data=request.query_params, kind=self.history_kind, latest=equipment.last_reading_at
        )
        query.is_valid(raise_exception=True)
        start, end, interval, fields = (
            query.validated_data[key] for key in ("start", "end", "interval", "fields")
        )
        body = {
            "kind": self.history_kind,
            "equipment_id": equipment.pk,
            "name": equipment.name,
            "from": start,
            "to": end,
            "fields": fields,
            "interval": request.query_params.get("interval"),
        }
        if interval is not None:
            results = selectors.reading_buckets(
                self.history_kind, equipment.pk, start=start, end=end, interval=interval, fields=fields
            )
            return Response({**body, "results": results})
        if "cursor" not in request.query_params:  # later pages were checked when the first was asked for
            limit = serializers.RAW_POINTS_LIMIT
            count = selectors.count_readings_up_to(
                self.history_kind, equipment.pk, start=start, end=end, limit=limit + 1
            )
            if count > limit:
                suggestion = serializers.suggest_interval(end - start)
                raise exceptions.ValidationError(
                    {
                        "interval": [
                            f"more than {limit} raw readings in this range: aggregate them, e.g. "
                            f"interval={suggestion}, or ask for a shorter range"
                        ]
                    }
                )
        paginator = ReadingCursor()
        queryset = selectors.raw_readings(
            self.history_kind, equipment.pk, start=start, end=end, fields=fields
        )
        page = paginator.paginate_queryset(queryset, request, view=self)
        return Response(
            {
                **body,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": page,
            }
        )


def status_actions_schema(row_serializer, kind: str):
    """Documentation of the maintenance and return-to-service actions of one equipment kind."""
    return {
        "maintenance": extend_schema(
            summary=f"Send a {kind} to planned maintenance",
            description=(
                "Operators only (fleet.change_equipment_status). Idempotent: a unit already in maintenance "
                "stays there. The simulator takes it out of service from its next tick."
            ),
            request=None,
            responses={200: row_serializer},
        ),
        "return_to_service": extend_schema(
            summary=f"Return a {kind} from maintenance to service",
            description="Operators only. 409 when the unit is not in maintenance (breakdowns end in repair).",
            request=None,
            responses={200: row_serializer, 409: error_response(409)},
        ),
    }


class StatusActionsMixin:
    """POST /api/<equipment>/{id}/maintenance and /return-to-service, through fleet.services."""

    def _equipment(self, pk: str) -> Model:
        return get_object_or_404(
            self.get_queryset().model.objects.only("id", "name", "site_id", "status"), pk=pk
        )

    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def maintenance(self, request: Request, pk: str) -> Response:
        services.send_to_maintenance(equipment=[self._equipment(pk)], actor=request.user)
        return Response(self.row(int(pk)))

    @action(
        detail=True, methods=["post"], url_path="return-to-service", filter_backends=[], pagination_class=None
    )
    def return_to_service(self, request: Request, pk: str) -> Response:
        equipment = self._equipment(pk)
        if equipment.status != services.MAINTENANCE:
            raise Conflict(f"{equipment.name} is {equipment.status}, not in maintenance.")
        services.return_to_service(equipment=[equipment], actor=request.user)
        return Response(self.row(int(pk)))


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
class ZoneViewSet(viewsets.ReadOnlyModelViewSet):
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
)
class TruckViewSet(HistoryMixin, StatusActionsMixin, RowsViewSet):
    queryset = Truck.objects.order_by("site_id", "name")
    serializer_class = serializers.TruckRowSerializer
    filterset_class = filters.TruckFilterSet
    rows = staticmethod(selectors.truck_rows)
    history_kind = "truck"
    action_permissions = {
        "maintenance": CHANGE_EQUIPMENT_STATUS,
        "return_to_service": CHANGE_EQUIPMENT_STATUS,
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
        report = services.ingest_telemetry(items=items)
        return Response(serializers.TelemetryReportSerializer(report).data)
