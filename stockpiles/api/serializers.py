"""Shapes of the stockpile endpoints: the rows of stockpiles.selectors.stockpile_rows."""

from rest_framework import serializers

from fleet.api.serializers import telemetry_state_fields
from smartmine.platform.api.schema import row_serializer
from stockpiles.models import Stockpile
from stockpiles.selectors import STOCKPILE_ROW_FIELDS
from stockpiles.services import MAX_RECLAIM_RATE_TPH

StockpileRowSerializer = row_serializer(
    "StockpileRow",
    Stockpile,
    STOCKPILE_ROW_FIELDS,
    {
        "kind": serializers.CharField(read_only=True, default="stockpile", help_text="always `stockpile`"),
        "material_name": serializers.CharField(read_only=True, allow_null=True),
        "material_kind": serializers.CharField(
            read_only=True, allow_null=True, help_text="ore, waste or product"
        ),
        **telemetry_state_fields(),
    },
)


class StockpileUpdateSerializer(serializers.Serializer):
    """What operators set on a stockpile: the reclaim rate, required even in a PATCH."""

    openapi_request_rules = {"required": ["reclaim_rate_tph"]}

    reclaim_rate_tph = serializers.FloatField(
        min_value=0.0,
        max_value=MAX_RECLAIM_RATE_TPH,
        help_text=f"reclaim set point (t/h), 0 to {MAX_RECLAIM_RATE_TPH:g}; the simulator follows it",
    )
