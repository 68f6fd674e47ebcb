"""Crusher endpoints: current state, history, maintenance (the shared machinery lives in fleet.api.views)."""

from drf_spectacular.utils import extend_schema, extend_schema_view

from fleet.api.equipment import (
    HandBackMixin,
    HistoryMixin,
    StatusActionsMixin,
    hand_back_schema,
    history_schema,
    status_actions_schema,
)
from fleet.choices import CHANGE_EQUIPMENT_STATUS
from plants.api.filters import CrusherFilterSet
from plants.api.serializers import CrusherRowSerializer
from plants.models import Crusher
from plants.selectors import crusher_rows
from smartmine.platform.api.viewsets import RowsViewSet


@extend_schema_view(
    list=extend_schema(
        summary="Crushers: current state (the rows of the live plant stream)",
        description="Throughput, feed bin, utilisation, condition sensors and health of every crusher.",
    ),
    retrieve=extend_schema(summary="One crusher's current state"),
    readings=history_schema("crusher"),
    **status_actions_schema(CrusherRowSerializer, "crusher"),
    **hand_back_schema(CrusherRowSerializer, "crusher"),
)
class CrusherViewSet(HistoryMixin, StatusActionsMixin, HandBackMixin, RowsViewSet):
    queryset = Crusher.objects.order_by("site_id", "name")
    serializer_class = CrusherRowSerializer
    filterset_class = CrusherFilterSet
    rows = staticmethod(crusher_rows)
    read_model = "crushers"
    history_kind = "crusher"
    action_permissions = {
        "maintenance": CHANGE_EQUIPMENT_STATUS,
        "return_to_service": CHANGE_EQUIPMENT_STATUS,
        "hand_back": CHANGE_EQUIPMENT_STATUS,
    }
