from smartmine.platform.api.viewsets import OptionalSlashRouter
from stockpiles.api import views

router = OptionalSlashRouter()
router.register("stockpiles", views.StockpileViewSet, basename="stockpile")

urlpatterns = router.urls
