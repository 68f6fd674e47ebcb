"""Analytics endpoints: alerts (operators acknowledge and clear them), mining KPIs, and the ML results."""

from __future__ import annotations

from django.db.models import F
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import kpis, selectors, services
from analytics.api import filters
from analytics.api import serializers as shapes
from analytics.models import Alert
from fleet.choices import ACKNOWLEDGE_ALERT
from fleet.models import Site


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
        request=None if detail else shapes.AlertIdsSerializer,
        responses={200: shapes.AlertActionResultSerializer},
        operation_id=f"alerts_{verb}{'' if detail else '_many'}",
    )


@extend_schema_view(
    list=extend_schema(summary="Alerts, newest first; filter by open, severity and equipment"),
    retrieve=extend_schema(summary="One alert"),
    acknowledge=_alert_action_schema("acknowledge", detail=True),
    clear=_alert_action_schema("clear", detail=True),
    acknowledge_many=_alert_action_schema("acknowledge", detail=False),
    clear_many=_alert_action_schema("clear", detail=False),
)
class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Alert.objects.annotate(
        equipment_kind=F("equipment_type__model"),
        acknowledged_by_name=F("acknowledged_by__username"),
        cleared_by_name=F("cleared_by__username"),
    ).order_by("-last_raised_at", "-id")
    serializer_class = shapes.AlertSerializer
    filterset_class = filters.AlertFilterSet
    lookup_value_regex = r"\d+"
    action_permissions = dict.fromkeys(
        ["acknowledge", "clear", "acknowledge_many", "clear_many"], ACKNOWLEDGE_ALERT
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

    def _listed(self, request: Request) -> list[Alert]:
        body = shapes.AlertIdsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return [Alert(pk=pk) for pk in body.validated_data["ids"]]


# --- KPIs


def _site(value: str | None) -> Site:
    sites = Site.objects.only("id", "name", "slug", "timezone", "sim_clock")
    if value is None:
        site = sites.filter(is_default=True).first() or sites.order_by("pk").first()
        if site is None:
            raise exceptions.NotFound("There is no site yet.")
        return site
    lookup = {"pk": int(value)} if value.isdigit() else {"slug": value}
    return get_object_or_404(sites, **lookup)


class KpiView(APIView):
    """GET /api/mining/kpis: the site's KPIs over a window, computed in SQL over the history."""

    @extend_schema(
        summary="Mining KPIs of a site over a window",
        description=(
            "Tonnes moved (ore, waste), production rate, truck cycle time and its parts, queue time at "
            "loaders and crushers, truck physical availability and utilisation, match factor, payload "
            "compliance (10/10/20), fuel per tonne, crusher throughput, utilisation and OEE, stockpile level "
            "and hours of cover. Each is defined in docs/kpis.md. A value is null when its denominator is "
            "zero (no data). Choose `window` (shift, 24h, 7d; ending at the site's simulated clock) or "
            "`from` and `to`."
        ),
        parameters=[shapes.KpiQuerySerializer],
        responses={200: shapes.KpiSerializer},
    )
    def get(self, request: Request) -> Response:
        query = shapes.KpiQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        site = _site(params.get("site"))
        if "from" in params:
            name, start, end = "custom", params["from"], params["to"]
        else:
            name = params.get("window", "24h")
            start, end = kpis.window(name, site.sim_clock or timezone.now(), site.timezone)
        figures = kpis.mine_kpis(selectors.kpi_aggregates(site.pk, start=start, end=end))
        window = {"name": name, "from": start, "to": end, "hours": (end - start).total_seconds() / 3600}
        return Response(
            {"site": {"id": site.pk, "name": site.name, "slug": site.slug}, "window": window, **figures}
        )


# --- ML: empty, well-formed answers until the analytics issue fills them


def _empty_page(name: str, item: type[serializers.Serializer]):
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "model_version": serializers.CharField(
                allow_null=True, help_text="null until a model is trained"
            ),
            "results": item(many=True),
        },
    )


_EMPTY = {"count": 0, "next": None, "previous": None, "model_version": None, "results": []}


class HealthPredictionView(APIView):
    @extend_schema(
        summary="Predicted equipment health and failure risk",
        description="Empty until the failure-prediction model is trained (the item shape is fixed).",
        responses={200: _empty_page("HealthPredictionPage", shapes.HealthPredictionSerializer)},
        examples=[OpenApiExample("No model yet", value=_EMPTY)],
    )
    def get(self, request: Request) -> Response:
        return Response(_EMPTY)


class RecommendationView(APIView):
    @extend_schema(
        summary="Operational recommendations (dispatch, maintenance, stockpiles)",
        description="Empty until the recommendation engine runs (the item shape is fixed).",
        responses={200: _empty_page("RecommendationPage", shapes.RecommendationSerializer)},
        examples=[OpenApiExample("None yet", value=_EMPTY)],
    )
    def get(self, request: Request) -> Response:
        return Response(_EMPTY)
