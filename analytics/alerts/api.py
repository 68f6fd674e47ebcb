"""REST endpoints of alerts: list and read them; operators acknowledge and clear them."""

from __future__ import annotations

import datetime as dt

import django_filters
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.alerts import selectors, services
from analytics.alerts.models import AlarmState, Alert, AlertSeverity
from analytics.pages import requested_site
from analytics.permissions import ACKNOWLEDGE_ALERT
from fleet.api.filters import SiteFilterSet
from smartmine.platform.api.fields import ChoiceField, SiteField
from smartmine.platform.api.filters import MAX_ID, IdFilter


class AlertSerializer(serializers.ModelSerializer):
    site_id = serializers.IntegerField(read_only=True)
    equipment_kind = serializers.CharField(read_only=True, help_text="truck, loader, crusher or stockpile")
    equipment_id = serializers.IntegerField(read_only=True)
    is_open = serializers.BooleanField(read_only=True, help_text="not cleared yet")
    acknowledged_by = serializers.CharField(
        source="acknowledged_by_name", read_only=True, allow_null=True, help_text="username"
    )
    cleared_by = serializers.CharField(
        source="cleared_by_name", read_only=True, allow_null=True, help_text="username"
    )
    state = serializers.ChoiceField(choices=AlarmState.choices, read_only=True, help_text="ISA-18.2 state")
    rule = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id", "site_id", "equipment_kind", "equipment_id", "equipment_name", "kind", "severity",
            "message", "raised_at", "last_raised_at", "repeat_count", "is_open", "acknowledged_at",
            "acknowledged_by", "cleared_at", "cleared_by", "state", "rule", "last_value", "shelved_until",
            "shelved_reason",
        ]  # fmt: skip
        read_only_fields = fields


class AlertIdsSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=1000,
        help_text="alert ids",
    )


class AlertActionResultSerializer(serializers.Serializer):
    changed = serializers.IntegerField(
        help_text="alerts changed (already acknowledged or cleared ones are not)"
    )


class ShelveSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(
        min_value=0, max_value=int(services.MAX_SHELVE.total_seconds() // 60), help_text="0 unshelves"
    )
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate(self, data: dict) -> dict:
        if data["minutes"] and not data["reason"].strip():
            raise ValidationError({"reason": ["a reason is required to shelve an alarm"]})
        return data


class PerformanceQuerySerializer(serializers.Serializer):
    site = SiteField(required=False)
    hours = serializers.FloatField(min_value=0.1, max_value=24 * 31, default=24.0)
    operators = serializers.IntegerField(min_value=1, max_value=100, default=1)


class StandingAlarmSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="the alarm: kind, unit kind and unit id")
    raised_s = serializers.FloatField(help_text="when it was raised (Unix seconds)")
    active_h = serializers.FloatField(help_text="hours active at the end of the period")


class TopAlarmSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="the alarm: kind, unit kind and unit id")
    raises = serializers.IntegerField()
    share_pct = serializers.FloatField(help_text="share of the annunciated alarms of the period (%)")


class AlarmPerformanceSerializer(serializers.Serializer):
    """analytics.alerts.performance.Performance, as the API answers it (docs/alarms.md)."""

    hours = serializers.FloatField(help_text="the period: the last `hours` hours")
    operators = serializers.IntegerField(help_text="operators sharing the alarms")
    annunciated = serializers.IntegerField(help_text="alarms raised unshelved in the period")
    per_hour_per_operator = serializers.FloatField()
    peak_10min = serializers.IntegerField(help_text="most annunciated alarms in any 10 minutes")
    flood_windows = serializers.IntegerField(help_text="10-minute windows with more than 10 alarms")
    flood_share_pct = serializers.FloatField(help_text="share of the 10-minute windows in flood (%)")
    chattering = serializers.ListField(
        child=serializers.CharField(), help_text="alarms raised 3 or more times within 60 s"
    )
    standing = StandingAlarmSerializer(many=True, help_text="alarms active for more than 24 h")
    top = TopAlarmSerializer(many=True, help_text="the most frequent alarms (at most 10)")
    verdict = ChoiceField(
        choices=["acceptable", "manageable", "overloaded"],
        help_text="ISA-18.2: up to 6 alarms an hour per operator acceptable, up to 12 manageable",
    )


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
    equipment_id = IdFilter(help_text="with equipment_kind: one unit's alerts")
    kind = django_filters.CharFilter(help_text="what is wrong, e.g. engine_overheat")
    live = None  # alerts have no live flag

    class Meta:
        model = Alert
        fields = ["site", "open", "severity", "acknowledged", "equipment_kind", "equipment_id", "kind"]

    def filter_open(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(Q(cleared_at__isnull=value))


def _alert_action_schema(verb: str, detail: bool):
    return extend_schema(
        summary=f"{verb.title()} {'an alert' if detail else 'several alerts'}",
        description=(
            "Operators only (analytics.acknowledge_alert). "
            + (
                "Acknowledging records who has seen an open alert; it stays open until cleared."
                if verb == "acknowledge"
                else "Clearing closes the alert (acknowledging it first if needed); the next "
                "occurrence opens a new one."
            )
            + " Alerts already in that state are left as they are (`changed` counts the others)."
        ),
        request=None if detail else AlertIdsSerializer,
        responses={200: AlertActionResultSerializer},
        operation_id=f"alerts_{verb}{'' if detail else '_many'}",
    )


@extend_schema_view(
    list=extend_schema(summary="Alerts, newest first; filter by open, severity and equipment"),
    retrieve=extend_schema(summary="One alert"),
    acknowledge=_alert_action_schema("acknowledge", detail=True),
    clear=_alert_action_schema("clear", detail=True),
    acknowledge_many=_alert_action_schema("acknowledge", detail=False),
    clear_many=_alert_action_schema("clear", detail=False),
    shelve=extend_schema(
        summary="Shelve an alarm for some minutes with a reason (0 minutes unshelves)",
        description="Operators only (analytics.acknowledge_alert). A shelved alarm is hidden from the "
        "operator; raises of the same rule on the same unit stay shelved until it runs out. Audited. "
        "More than 0 minutes needs a `reason` that is not blank (400 naming `reason`).",
        request=ShelveSerializer,
        responses={200: AlertActionResultSerializer},
    ),
    performance=extend_schema(
        summary="Alarm-system performance (ISA-18.2 / EEMUA 191) of a site over the last hours",
        description="`site`: id or slug (default: the default site; 404 when there is no such site).",
        parameters=[PerformanceQuerySerializer],
        responses={200: AlarmPerformanceSerializer},
    ),
)
class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = selectors.named_alerts()
    serializer_class = AlertSerializer
    filterset_class = AlertFilterSet
    lookup_value_regex = r"\d+"
    action_permissions = dict.fromkeys(
        ["acknowledge", "clear", "acknowledge_many", "clear_many", "shelve"], ACKNOWLEDGE_ALERT
    )

    def _respond(self, changed: int) -> Response:
        return Response({"changed": changed})

    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def acknowledge(self, request: Request, pk: str) -> Response:
        alert = get_object_or_404(Alert.objects.only("id"), pk=pk)
        return self._respond(services.acknowledge_alerts(alerts=[alert], user=request.user))

    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def clear(self, request: Request, pk: str) -> Response:
        alert = get_object_or_404(Alert.objects.only("id"), pk=pk)
        return self._respond(services.clear_alerts(alerts=[alert], user=request.user))

    @action(detail=False, methods=["post"], url_path="acknowledge", filter_backends=[], pagination_class=None)
    def acknowledge_many(self, request: Request) -> Response:
        return self._respond(services.acknowledge_alerts(alerts=self._listed(request), user=request.user))

    @action(detail=False, methods=["post"], url_path="clear", filter_backends=[], pagination_class=None)
    def clear_many(self, request: Request) -> Response:
        return self._respond(services.clear_alerts(alerts=self._listed(request), user=request.user))

    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def shelve(self, request: Request, pk: str) -> Response:
        body = ShelveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alert = get_object_or_404(Alert.objects.only("id"), pk=pk)
        duration = dt.timedelta(minutes=body.validated_data["minutes"])
        return self._respond(
            services.shelve_alerts(
                alerts=[alert], user=request.user, duration=duration, reason=body.validated_data["reason"]
            )
        )

    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def performance(self, request: Request) -> Response:
        query = PerformanceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        params["site"] = requested_site(params.get("site")).pk
        return Response(selectors.alarm_performance(**params).as_dict())

    def _listed(self, request: Request) -> list[Alert]:
        body = AlertIdsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return [Alert(pk=pk) for pk in body.validated_data["ids"]]
