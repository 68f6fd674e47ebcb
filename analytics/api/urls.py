from django.urls import re_path

from analytics.api import views
from smartmine.platform.api.viewsets import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("alerts", views.AlertViewSet, basename="alert")
router.register("ml/recommendations", views.RecommendationViewSet, basename="recommendation")
router.register("ml/models", views.ModelVersionViewSet, basename="model-version")

urlpatterns = [
    *router.urls,
    re_path(r"^mining/kpis/?$", views.KpiView.as_view(), name="kpis"),
    re_path(r"^ml/health-prediction/?$", views.HealthPredictionView.as_view(), name="health-prediction"),
]
