"""Stockpile endpoints: current state, history and the operators' reclaim set point."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.request import Request
from rest_framework.response import Response

from fleet.api.equipment import HandBackMixin, HistoryMixin, hand_back_schema, history_schema
from smartmine.platform.api.viewsets import RowsViewSet
from stockpiles import services
from stockpiles.api.filters import StockpileFilterSet
from stockpiles.api.serializers import StockpileRowSerializer, StockpileUpdateSerializer
from stockpiles.models import Stockpile
from stockpiles.selectors import stockpile_rows


@extend_schema_view(
    list=extend_schema(
        summary="Stockpiles: current state (the rows of the live plant stream)",
        description="Level, capacity, utilisation, fill and reclaim rates and grade of every stockpile.",
    ),
    retrieve=extend_schema(summary="One stockpile's current state"),
    partial_update=extend_schema(
        summary="Set a stockpile's reclaim rate",
        description="Operators only (stockpiles.change_stockpile or fleet.change_equipment_status).",
        request=StockpileUpdateSerializer,
        responses={200: StockpileRowSerializer},
    ),
    readings=history_schema("stockpile"),
    **hand_back_schema(StockpileRowSerializer, "stockpile"),
)
class StockpileViewSet(HistoryMixin, HandBackMixin, RowsViewSet):
    queryset = Stockpile.objects.order_by("site_id", "name")
    serializer_class = StockpileRowSerializer
    filterset_class = StockpileFilterSet
    rows = staticmethod(stockpile_rows)
    read_model = "stockpiles"
    history_kind = "stockpile"
    action_permissions = {
        "partial_update": "fleet.change_equipment_status",
        "hand_back": "fleet.change_equipment_status",
    }
    http_method_names = ["get", "post", "patch", "head", "options"]

    def partial_update(self, request: Request, pk: str) -> Response:
        stockpile = get_object_or_404(Stockpile.objects.only("id"), pk=pk)
        update = StockpileUpdateSerializer(data=request.data)
        update.is_valid(raise_exception=True)
        services.set_reclaim_rate(stockpile=stockpile, actor=request.user, **update.validated_data)
        return Response(self.row(stockpile.pk))
