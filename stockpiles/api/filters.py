"""Filterset of the stockpile list."""

import django_filters

from fleet.api.filters import ReportingFilterSet
from stockpiles.choices import MaterialKind, StockpileStatus
from stockpiles.models import Stockpile


class StockpileFilterSet(ReportingFilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=StockpileStatus.choices, help_text="one or more statuses (repeat the parameter)"
    )
    material_kind = django_filters.ChoiceFilter(field_name="material__kind", choices=MaterialKind.choices)

    class Meta:
        model = Stockpile
        fields = ["site", "status", "material_kind", "live", "telemetry"]
