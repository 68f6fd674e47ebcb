"""Shapes of the crusher endpoints: the rows of plants.selectors.crusher_rows."""

from rest_framework import serializers

from fleet.api.serializers import telemetry_state_fields
from plants.models import Crusher
from plants.selectors import CRUSHER_ROW_FIELDS
from smartmine.platform.api.schema import row_serializer

CrusherRowSerializer = row_serializer(
    "CrusherRow",
    Crusher,
    CRUSHER_ROW_FIELDS,
    {
        "kind": serializers.CharField(read_only=True, default="crusher", help_text="always `crusher`"),
        "utilisation_pct": serializers.FloatField(
            read_only=True, help_text="throughput as a share of rated capacity (%)"
        ),
        **telemetry_state_fields(),
    },
)
