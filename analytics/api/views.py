"""Analytics endpoints: alerts (operators acknowledge and clear them), mining KPIs, and the ML results."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import kpis, ml_selectors, registry, selectors, services, tasks
from analytics.api import filters
from analytics.api import serializers as shapes
from analytics.models import Alert, ModelVersion, Prediction, Recommendation
from fleet.choices import ACKNOWLEDGE_ALERT, RETRAIN_MODELS
from fleet.models import Site
from smartmine.platform import audit
from smartmine.platform.api.pagination import RowPagination
from smartmine.platform.api.schema import error_response
from smartmine.platform.models import AuditAction

#: Accept and dismiss recommendations (granted to Operators and Engineers by analytics/migrations/0006).
DECIDE_RECOMMENDATION = "analytics.decide_recommendation"


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


# --- ML: health predictions, recommendations and the model registry


def _page(name: str, item: type[serializers.Serializer]):
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "model_version": serializers.CharField(
                allow_null=True, help_text="active failure models, e.g. failure_truck@3; null until trained"
            ),
            "results": item(many=True),
        },
    )


_EMPTY = {"count": 0, "next": None, "previous": None, "model_version": None, "results": []}


def _site_or_none(value: str | None) -> Site | None:
    """The requested site, or the default one; None when there is no site at all (an empty page)."""
    try:
        return _site(value)
    except exceptions.NotFound:
        if value is not None:
            raise
        return None


def _active_label() -> str | None:
    labels = [v.label for v in ModelVersion.objects.filter(active=True, kind__startswith="failure_")]
    return ", ".join(sorted(labels)) or None


def _paged(view: APIView, request: Request, rows: list, item) -> Response:
    paginator = RowPagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    body = paginator.get_paginated_response([item(row) for row in page]).data
    return Response({**body, "model_version": _active_label()})


def _prediction_item(p: Prediction) -> dict:
    return {
        "equipment_kind": p.equipment_kind,
        "equipment_id": p.equipment_id,
        "equipment_name": p.equipment_name,
        "health": p.health,
        "failure_probability": round(p.failure_probability, 4),
        "rul_h": None if p.rul_h is None else round(p.rul_h, 1),
        "model_version": p.model.label,
        "factors": [{"feature": name, "contribution": round(lift, 4)} for name, lift in p.factors],
    }


class HealthPredictionView(APIView):
    @extend_schema(
        summary="Predicted equipment health and failure risk, riskiest first",
        description=(
            "For every truck, loader and crusher in service: the probability of a breakdown within the "
            "model's horizon (24 h), remaining useful life, a 0-100 health score and the signals that raise "
            "the risk most (`contribution`: probability points the signal adds over its healthy level). "
            "Refreshed about once a simulated minute from the reading history; units down are not scored. "
            "Empty until a failure model is trained (`manage.py retrain_models`). See docs/ml.md."
        ),
        parameters=[shapes.HealthQuerySerializer],
        responses={
            200: _page("HealthPredictionPage", shapes.HealthPredictionSerializer),
            404: error_response(404),
        },
        examples=[OpenApiExample("No model yet", value=_EMPTY)],
    )
    def get(self, request: Request) -> Response:
        query = shapes.HealthQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        site = _site_or_none(query.validated_data.get("site"))
        if site is None:
            return Response(_EMPTY)
        rows = ml_selectors.latest_predictions(site.pk)
        if "equipment_kind" in query.validated_data:
            rows = rows.filter(equipment_kind=query.validated_data["equipment_kind"])
        return _paged(self, request, list(rows), _prediction_item)


@extend_schema_view(
    list=extend_schema(
        summary="Operational recommendations (maintenance, dispatch, stockpiles, fleet sizing)",
        description=(
            "Open (`new`) recommendations by default, newest first; `status=all` for the history. Each has a "
            "priority, the expected impact in tonnes or hours and its reasoning in plain words. Operators "
            "accept or dismiss them; they expire when their reason goes away."
        ),
        parameters=[shapes.RecommendationQuerySerializer],
        responses={
            200: _page("RecommendationPage", shapes.RecommendationSerializer),
            404: error_response(404),
        },
    ),
    accept=extend_schema(
        summary="Accept a recommendation",
        description="Operators and engineers (analytics.decide_recommendation); audited.",
        request=None,
        responses={200: shapes.DecisionResultSerializer},
    ),
    dismiss=extend_schema(
        summary="Dismiss a recommendation",
        description="Operators and engineers (analytics.decide_recommendation); audited. The same advice "
        "on the same subject is not raised again for 4 hours.",
        request=None,
        responses={200: shapes.DecisionResultSerializer},
    ),
)
class RecommendationViewSet(viewsets.GenericViewSet):
    queryset = Recommendation.objects.all()
    lookup_value_regex = r"\d+"
    action_permissions = dict.fromkeys(["accept", "dismiss"], DECIDE_RECOMMENDATION)
    filter_backends = []

    def list(self, request: Request) -> Response:
        query = shapes.RecommendationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        site = _site_or_none(params.get("site"))
        if site is None:
            return Response(_EMPTY)
        rows = Recommendation.objects.filter(site=site).order_by("-created_at", "-id")
        if params.get("status", "new") != "all":
            rows = rows.filter(status=params.get("status", "new"))
        if "kind" in params:
            rows = rows.filter(kind=params["kind"])
        return _paged(self, request, rows, services.recommendation_item)

    @action(detail=True, methods=["post"], pagination_class=None)
    def accept(self, request: Request, pk: str) -> Response:
        return self._decide(request, pk, accept=True)

    @action(detail=True, methods=["post"], pagination_class=None)
    def dismiss(self, request: Request, pk: str) -> Response:
        return self._decide(request, pk, accept=False)

    def _decide(self, request: Request, pk: str, *, accept: bool) -> Response:
        rec = get_object_or_404(Recommendation, pk=pk)
        changed = services.decide_recommendation(recommendation=rec, user=request.user, accept=accept)
        rec.refresh_from_db()
        return Response({"changed": changed, "recommendation": services.recommendation_item(rec)})


def _version_item(version: ModelVersion, live: dict) -> dict:
    return {
        "id": version.pk,
        "kind": version.kind,
        "version": version.version,
        "label": version.label,
        "active": version.active,
        "trained_at": version.trained_at,
        "age_h": round((timezone.now() - version.trained_at).total_seconds() / 3600.0, 2),
        "training_window": {"start": version.training_start, "end": version.training_end},
        "sites": version.sites,
        "features": version.features,
        "metrics": version.metrics,
        "promotion": version.promotion,
        "artifact_path": version.artifact_path,
        "sha256": version.sha256,
        "live": live.get(version.kind) if version.active else None,
    }


@extend_schema_view(
    list=extend_schema(
        summary="The model registry: every trained version, its figures and live accuracy",
        description=(
            "Versions per kind, newest first. `metrics` are validation figures; `promotion` holds the "
            "candidate's and the then-active model's figures on the same validation rows and the verdict; "
            "`live` (active versions) compares past predictions with the breakdowns that followed."
        ),
        responses={200: shapes.ModelVersionSerializer(many=True)},
    ),
    retrain=extend_schema(
        summary="Retrain models now (in the background)",
        description="Engineers only (analytics.retrain_models). Queues the retraining task; audited.",
        request=shapes.RetrainRequestSerializer,
        responses={202: inline_serializer("RetrainQueued", {"queued": serializers.ListField()})},
    ),
)
class ModelVersionViewSet(viewsets.GenericViewSet):
    queryset = ModelVersion.objects.all()
    action_permissions = {"retrain": RETRAIN_MODELS}
    filter_backends = []
    pagination_class = None  # a handful of versions per kind: one plain list

    def list(self, request: Request) -> Response:
        rows = list(ml_selectors.registry_rows())
        live = ml_selectors.live_accuracy()
        return Response([_version_item(version, live) for version in rows])

    @action(detail=False, methods=["post"], pagination_class=None)
    def retrain(self, request: Request) -> Response:
        body = shapes.RetrainRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            kinds = registry.parse_kinds(body.validated_data.get("kinds"))
        except ValueError as exc:
            raise exceptions.ValidationError({"kinds": [str(exc)]}) from None
        force = body.validated_data["force"]
        audit.record(actor=request.user, action=AuditAction.RETRAIN, targets=["models: " + ", ".join(kinds)],
                     queued=True, force=force)  # fmt: skip
        transaction.on_commit(lambda: tasks.retrain_models_task.delay(kinds, force))
        return Response({"queued": kinds}, status=202)
