from plants.api import views
from smartmine.platform.api.viewsets import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("crushers", views.CrusherViewSet, basename="crusher")

urlpatterns = router.urls
