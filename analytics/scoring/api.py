"""REST endpoints of the ML results: predicted equipment health, and the model registry (engineers
retrain)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.ml.lifecycle import verdict
from analytics.pages import (
    EMPTY_PAGE,
    PAGE_PARAMETERS,
    MlQuerySerializer,
    ml_page,
    ml_page_response,
    requested_site_or_none,
)
from analytics.permissions import RETRAIN_MODELS
from analytics.scoring import registry, selectors
from analytics.scoring.models import BootstrapStatus, ModelVersion, Prediction
from analytics.scoring.tasks import retrain_models_task
from smartmine.platform import audit
from smartmine.platform.api.errors import Conflict
from smartmine.platform.api.fields import ChoiceField, StrictBooleanField
from smartmine.platform.api.schema import error_response
from smartmine.platform.models import AuditAction


class FactorSerializer(serializers.Serializer):
    feature = serializers.CharField(help_text="e.g. vibration_mm_s trend")
    contribution = serializers.FloatField(help_text="share of the prediction explained by this factor")


class HealthPredictionSerializer(serializers.Serializer):
    equipment_kind = ChoiceField(choices=["truck", "loader", "crusher"])
    equipment_id = serializers.IntegerField()
    equipment_name = serializers.CharField()
    predicted_health = serializers.FloatField(
        help_text="the model's health score, 0-100: 100 x (1 - failure_probability), lowered when little "
        "life is left. Not the unit's own `health` (the engine's condition index on its row)"
    )
    health = serializers.FloatField(help_text="deprecated: the same value as predicted_health")
    failure_probability = serializers.FloatField(
        help_text="calibrated probability of a breakdown within the horizon (0-1)"
    )
    rul_h = serializers.FloatField(allow_null=True, help_text="estimated remaining useful life (h)")
    model_version = serializers.CharField()
    factors = FactorSerializer(many=True)


class BootstrapSerializer(serializers.Serializer):
    status = ChoiceField(
        choices=BootstrapStatus.values, help_text="refining: the first models are active; some train again"
    )
    step = serializers.CharField(help_text="what it is doing now, e.g. 'training failure_crusher'")
    progress = serializers.FloatField(help_text="0-1")
    site = serializers.IntegerField(help_text="the site whose size the simulated sites copy")
    seeds = serializers.ListField(child=serializers.IntegerField())
    days = serializers.FloatField(help_text="simulated days per seed")
    attempts = serializers.IntegerField()
    queued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(help_text="why the last attempt failed; empty otherwise")


MODEL_STATE_FIELDS = {
    "status": ChoiceField(
        choices=["training", "ready", "failed", "no_model"],
        help_text="training: first models are being trained (see `bootstrap`); ready: a failure model is "
        "active; failed: the bootstrap failed and will be retried; no_model: none trained yet",
    ),
    "bootstrap": BootstrapSerializer(allow_null=True, help_text="the latest model bootstrap, if any"),
    "models": serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text="active failure model -> provenance ('simulated history, seeds …'; empty: the sites' own)",
    ),
}


class HealthQuerySerializer(MlQuerySerializer):
    equipment_kind = ChoiceField(choices=["truck", "loader", "crusher"], required=False)


class ModelVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    version = serializers.IntegerField()
    label = serializers.CharField(help_text="kind@version, as model_version elsewhere")
    active = serializers.BooleanField()
    trained_at = serializers.DateTimeField()
    age_h = serializers.FloatField(help_text="hours since training (wall clock)")
    training_window = serializers.DictField(help_text="start and end (simulated time)")
    sites = serializers.ListField(child=serializers.IntegerField())
    features = serializers.ListField(child=serializers.CharField())
    metrics = serializers.DictField(help_text="validation figures")
    promotion = serializers.DictField(
        help_text="candidate vs active on the same validation rows, verdicts; `refused`: why not activated"
    )
    verdict = serializers.CharField(help_text="the promotion in words, e.g. why a version was not activated")
    provenance = serializers.CharField(
        allow_blank=True,
        help_text="empty: trained on the sites' own history; 'simulated history, seeds …': a bootstrap model",
    )
    artifact_path = serializers.CharField()
    sha256 = serializers.CharField()
    live = serializers.DictField(
        allow_null=True, help_text="active kinds: past predictions against what then happened"
    )


class RetrainRequestSerializer(serializers.Serializer):
    kinds = serializers.ListField(
        child=ChoiceField(choices=[*registry.KIND_GROUPS, *registry.ModelKind.values]),
        required=False,
        max_length=20,
        help_text="all (default, also when empty), failure, anomaly or kinds",
    )
    force = StrictBooleanField(default=False, help_text="activate even if worse")


def _prediction_item(p: Prediction) -> dict:
    return {
        "equipment_kind": p.equipment_kind,
        "equipment_id": p.equipment_id,
        "equipment_name": p.equipment_name,
        "predicted_health": p.predicted_health,
        "health": p.predicted_health,  # the original contract's name, kept for existing clients
        "failure_probability": round(p.failure_probability, 4),
        "rul_h": None if p.rul_h is None else round(p.rul_h, 1),
        "model_version": p.model.label,
        "factors": [{"feature": name, "contribution": round(lift, 4)} for name, lift in p.factors],
    }


class HealthPredictionView(APIView):
    @extend_schema(
        summary="Predicted equipment health and failure risk, riskiest first",
        description=(
            "For every truck, loader and crusher in service: the calibrated probability of a breakdown "
            "within the model's horizon (24 h), remaining useful life, the model's 0-100 `predicted_health` "
            "(`health` is the same value under its old name; a unit's own row carries the engine's `health`, "
            "another figure) and the signals that raise "
            "the risk most (`contribution`: probability points the signal adds over its healthy level). "
            "Refreshed about once a simulated minute from the reading history; units down are not scored. "
            "Empty until a failure model is trained: on a simulated site the first models are trained by "
            "themselves in the background (`status: training`, `bootstrap.progress`), on a real site by "
            "`manage.py retrain_models` (or `--bootstrap`). See docs/ml.md."
        ),
        parameters=[HealthQuerySerializer, *PAGE_PARAMETERS],
        responses={
            200: ml_page("HealthPredictionPage", HealthPredictionSerializer, **MODEL_STATE_FIELDS),
            404: error_response(404),
        },
        examples=[
            OpenApiExample(
                "No model yet", value={**EMPTY_PAGE, "status": "no_model", "bootstrap": None, "models": {}}
            )
        ],
    )
    def get(self, request: Request) -> Response:
        query = HealthQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        site = requested_site_or_none(query.validated_data.get("site"))
        state = selectors.model_state()
        if site is None:
            return Response({**EMPTY_PAGE, **state})
        rows = selectors.latest_predictions(site.pk)
        if "equipment_kind" in query.validated_data:
            rows = rows.filter(equipment_kind=query.validated_data["equipment_kind"])
        return ml_page_response(self, request, list(rows), _prediction_item, extra=state)


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
        "verdict": verdict(version.promotion),
        "provenance": version.provenance,
        "artifact_path": version.artifact_path,
        "sha256": version.sha256,
        "live": live.get(version.kind) if version.active else None,
    }


@extend_schema_view(
    list=extend_schema(
        summary="The model registry: every trained version, its figures and live accuracy",
        description=(
            "Versions per kind, newest first. `metrics` are validation figures (failure models: ROC-AUC, "
            "Brier, `ece` and the `reliability` table among them); `promotion` holds the "
            "candidate's and the then-active model's figures on the same validation rows and the verdict; "
            "`live` (active versions) compares past predictions with the breakdowns that followed."
        ),
        responses={200: ModelVersionSerializer(many=True)},
    ),
    retrain=extend_schema(
        summary="Retrain models now (in the background)",
        description="Engineers only (analytics.retrain_models). Queues the retraining task; audited. "
        "409 while a retraining is running (one at a time, wherever it was started).",
        request=RetrainRequestSerializer,
        responses={
            202: inline_serializer("RetrainQueued", {"queued": serializers.ListField()}),
            409: error_response(409),
        },
    ),
)
class ModelVersionViewSet(viewsets.GenericViewSet):
    queryset = ModelVersion.objects.all()
    action_permissions = {"retrain": RETRAIN_MODELS}
    filter_backends = []
    pagination_class = None  # a handful of versions per kind: one plain list

    def get_serializer_class(self) -> type[serializers.Serializer]:
        """The body `retrain` takes (OPTIONS describes it); the list builds its items itself."""
        return RetrainRequestSerializer if self.action == "retrain" else ModelVersionSerializer

    def list(self, request: Request) -> Response:
        rows = list(selectors.registry_rows())
        live = selectors.live_accuracy()
        return Response([_version_item(version, live) for version in rows])

    @action(detail=False, methods=["post"], pagination_class=None)
    def retrain(self, request: Request) -> Response:
        body = RetrainRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            kinds = registry.parse_kinds(body.validated_data.get("kinds"))
        except ValueError as exc:
            raise exceptions.ValidationError({"kinds": [str(exc)]}) from None
        force = body.validated_data["force"]
        if registry.retrain_running():
            raise Conflict("retraining is already running: try again when it has finished")
        audit.record(actor=request.user, action=AuditAction.RETRAIN, targets=["models: " + ", ".join(kinds)],
                     queued=True, force=force)  # fmt: skip
        transaction.on_commit(lambda: retrain_models_task.delay(kinds, force))
        return Response({"queued": kinds}, status=202)
