"""API pieces every kind of equipment shares, whichever app owns it: the reading-history endpoints (the
history machinery is fleet's) and the maintenance actions (fleet.services serves every kind that has a
maintenance status). Trucks use them here; crushers and stockpiles in their apps' views.
"""

from __future__ import annotations

from django.db.models import Model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from fleet import selectors, services
from fleet.api import serializers
from fleet.sim.schema import SENSORS
from smartmine.platform.api.errors import Conflict
from smartmine.platform.api.schema import error_response


class ReadingCursor(CursorPagination):
    """Raw readings oldest first, a page at a time; the cursor is the last `ts` seen (unique per unit)."""

    ordering = "ts"
    page_size = 1000
    page_size_query_param = "limit"
    max_page_size = 10_000


def fields_pattern(names: list[str]) -> str:
    """A comma-separated list of these names, as a schema pattern."""
    one = "(" + "|".join(names) + ")"
    return f"^{one}(,{one})*$"


def history_schema(kind: str):
    raw, bucketed = serializers.HISTORY_SERIALIZERS[kind]
    return extend_schema(
        summary=f"History of one {kind}: raw readings, or buckets aggregated by the database",
        description=(
            "Without `interval`: the raw readings in [from, to), oldest first, paginated by cursor "
            f"(`limit` per page, default 1000). A range holding more than {serializers.RAW_POINTS_LIMIT} "
            "readings is refused with 400 and a suggested interval. With `interval`: avg/min/max per field "
            "per bucket (PostgreSQL date_bin, buckets aligned on midnight UTC), empty buckets left out. "
            "Rules the schema cannot express, refused with 400 naming the field: `from` before `to`, at "
            f"most 31 days, at most {serializers.MAX_BUCKETS} buckets."
        ),
        parameters=[
            serializers.ReadingQuerySerializer,
            OpenApiParameter(
                "fields",
                {"type": "string", "minLength": 1, "pattern": fields_pattern(SENSORS[kind])},
                description=f"comma-separated {kind} sensors to return (default: all of them)",
            ),
            OpenApiParameter(
                "interval",
                {"type": "string", "minLength": 1, "pattern": serializers.INTERVAL_PATTERN},
                description="bucket size (30s, 1m, 15m, 1h, 1d): avg/min/max per field per bucket",
            ),
            OpenApiParameter("cursor", str, description="opaque; from `next` of the previous page"),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": ReadingCursor.max_page_size, "default": 1000},
                description="raw readings per page (at most 10000)",
            ),
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


def hand_back_schema(row_serializer, kind: str):
    """Documentation of the hand-back action of one equipment kind that reports telemetry."""
    return {
        "hand_back": extend_schema(
            summary=f"Hand a live or stale {kind} back to the simulator",
            description=(
                "Operators only (fleet.change_equipment_status), audited. From the next tick the simulator "
                "moves the unit again (from the engine state it kept for it) and its silence alarm clears; "
                "telemetry from it later makes it live again by itself. 409 when it is already simulated."
            ),
            request=None,
            responses={200: row_serializer, 409: error_response(409)},
        ),
    }


class HandBackMixin:
    """POST /api/<equipment>/{id}/hand-back: an operator gives a unit fed by telemetry to the simulator."""

    @action(detail=True, methods=["post"], url_path="hand-back", filter_backends=[], pagination_class=None)
    def hand_back(self, request: Request, pk: str) -> Response:
        equipment = get_object_or_404(
            self.get_queryset().model.objects.only("id", "name", "site_id", "live"), pk=pk
        )
        if not equipment.live:
            raise Conflict(f"{equipment.name} is simulated already; only live or stale units go back.")
        services.hand_back_to_simulator(equipment=[equipment], actor=request.user)
        return Response(self.row(int(pk)))
