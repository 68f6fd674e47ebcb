"""Filterset of the crusher list."""

import django_filters

from fleet.api.filters import ReportingFilterSet
from plants.choices import CrusherStatus
from plants.models import Crusher


class CrusherFilterSet(ReportingFilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=CrusherStatus.choices, help_text="one or more statuses (repeat the parameter)"
    )

    class Meta:
        model = Crusher
        fields = ["site", "status", "live", "telemetry"]
