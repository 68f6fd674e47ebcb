"""Filterset of the alert list."""

import django_filters
from django.db.models import Q, QuerySet

from analytics.models import Alert, AlertSeverity
from fleet.api.filters import SiteFilterSet


class AlertFilterSet(SiteFilterSet):
    open = django_filters.BooleanFilter(method="filter_open", help_text="true: not cleared; false: cleared")
    severity = django_filters.MultipleChoiceFilter(choices=AlertSeverity.choices, help_text="one or more")
    acknowledged = django_filters.BooleanFilter(
        field_name="acknowledged_at", lookup_expr="isnull", exclude=True
    )
    equipment_kind = django_filters.ChoiceFilter(
        field_name="equipment_type__model",
        choices=[
            ("truck", "truck"),
            ("loader", "loader"),
            ("crusher", "crusher"),
            ("stockpile", "stockpile"),
        ],
    )
    equipment_id = django_filters.NumberFilter(help_text="with equipment_kind: one unit's alerts")
    kind = django_filters.CharFilter(help_text="what is wrong, e.g. engine_overheat")
    live = None  # alerts have no live flag

    class Meta:
        model = Alert
        fields = ["site", "open", "severity", "acknowledged", "equipment_kind", "equipment_id", "kind"]

    def filter_open(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(Q(cleared_at__isnull=value))
