"""Routes of the scenario endpoints; the project includes them under /api/ (smartmine/urls.py)."""

from analytics.scenario_api import ScenarioViewSet
from smartmine.platform.api.viewsets import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("scenarios", ScenarioViewSet, basename="scenario")

urlpatterns = router.urls
