"""Routes of the fleet API; a trailing slash is optional on every path (the original clients use none)."""

from django.urls import re_path

from fleet.api import views
from smartmine.platform.api.viewsets import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("sites", views.SiteViewSet, basename="site")
router.register("mining/zones", views.ZoneViewSet, basename="zone")
router.register("loaders", views.LoaderViewSet, basename="loader")
router.register("trucks", views.TruckViewSet, basename="truck")

urlpatterns = [
    *router.urls,
    re_path(r"^telemetry/?$", views.TelemetryView.as_view(), name="telemetry"),
]
