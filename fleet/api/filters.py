"""Filtersets of the fleet endpoints; `SiteFilterSet` is shared by every equipment list."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from fleet import selectors
from fleet.choices import LoaderStatus, TruckStatus, ZoneMaterial, ZoneStatus
from fleet.liveness import TelemetryState
from fleet.models import Loader, MiningZone, Site, Truck
from smartmine.platform.api.filters import IdFilter, SiteFilter, is_id


def site_id_named(value: str) -> int | None:
    """The id of the site a query names by id or slug; None when there is none."""
    sites = Site.objects.filter(Q(pk=int(value)) if is_id(value) else Q(slug=value))
    return sites.values_list("pk", flat=True).first()


class SiteFilterSet(django_filters.FilterSet):
    """`site` takes the site's id or its slug (`?site=3` or `?site=west-pit`); an unknown site is a 404."""

    site = SiteFilter(site_lookup=site_id_named, field_name="site_id", help_text="site id or slug")
    live = django_filters.BooleanFilter(help_text="true: fed by real telemetry; false: simulated")


class ReportingFilterSet(SiteFilterSet):
    """Equipment that may report telemetry: `telemetry` filters by its state (docs/live.md)."""

    telemetry = django_filters.ChoiceFilter(
        choices=[(str(state), str(state)) for state in TelemetryState],
        method="filter_telemetry",
        help_text="simulated, live, or stale (fed by telemetry but silent for TELEMETRY_STALE_AFTER_S)",
    )

    def filter_telemetry(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(selectors.telemetry_state_filter(value))


class TruckFilterSet(ReportingFilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=TruckStatus.choices, help_text="one or more statuses (repeat the parameter)"
    )
    zone = IdFilter(
        field_name="assigned_loader__zone_id", help_text="pit zone id of the loader the truck is assigned to"
    )
    loader = IdFilter(field_name="assigned_loader_id", help_text="assigned loader id")

    class Meta:
        model = Truck
        fields = ["site", "status", "zone", "loader", "live", "telemetry"]


class LoaderFilterSet(SiteFilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=LoaderStatus.choices, help_text="one or more statuses (repeat the parameter)"
    )
    zone = IdFilter(field_name="zone_id", help_text="pit zone id")

    class Meta:
        model = Loader
        fields = ["site", "status", "zone", "live"]


class ZoneFilterSet(SiteFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ZoneStatus.choices, help_text="one or more statuses")
    material = django_filters.ChoiceFilter(choices=ZoneMaterial.choices)

    class Meta:
        model = MiningZone
        fields = ["site", "status", "material", "live"]
