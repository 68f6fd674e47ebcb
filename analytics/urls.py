"""Routes of the analytics endpoints; the project includes them under /api/ (smartmine/urls.py)."""

from django.urls import re_path

from analytics.alerts.api import AlertViewSet
from analytics.kpis.api import KpiView
from analytics.recommendations.api import RecommendationViewSet
from analytics.scenarios.api import ScenarioViewSet
from analytics.scoring.api import HealthPredictionView, ModelVersionViewSet
from smartmine.platform.api.viewsets import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("alerts", AlertViewSet, basename="alert")
router.register("ml/recommendations", RecommendationViewSet, basename="recommendation")
router.register("ml/models", ModelVersionViewSet, basename="model-version")
router.register("scenarios", ScenarioViewSet, basename="scenario")

urlpatterns = [
    *router.urls,
    re_path(r"^mining/kpis/?$", KpiView.as_view(), name="kpis"),
    re_path(r"^ml/health-prediction/?$", HealthPredictionView.as_view(), name="health-prediction"),
]
