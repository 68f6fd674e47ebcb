from plants.api import views
from smartmine.api_views import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("crushers", views.CrusherViewSet, basename="crusher")

urlpatterns = router.urls
