"""Top-level URL map. API paths take an optional trailing slash, so the original clients work unchanged.

Each domain app registers its own routes (its api/urls.py); this file only includes them.
"""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from smartmine import views

admin.site.site_header = "SmartMine control room"
admin.site.site_title = "SmartMine"
admin.site.index_title = "Control room"

urlpatterns = [
    re_path(r"^admin/", admin.site.urls),
    re_path(r"^api/health/?$", views.health_view, name="health"),
    re_path(r"^api/version/?$", views.version_view, name="version"),
    re_path(r"^metrics/?$", views.metrics_view, name="metrics"),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api/auth/token/?$", views.TokenView.as_view(), name="token"),
    re_path(r"^api/", include("fleet.api.urls")),
    re_path(r"^api/", include("plants.api.urls")),
    re_path(r"^api/", include("stockpiles.api.urls")),
    re_path(r"^api/", include("analytics.urls")),
    path("", include("smartmine.dashboard.urls")),  # the live dashboard at /, last
]

#: JSON errors under /api/, Django's HTML pages elsewhere.
handler400 = "smartmine.platform.api.errors.bad_request"
handler403 = "smartmine.platform.api.errors.permission_denied"
handler404 = "smartmine.platform.api.errors.page_not_found"
handler500 = "smartmine.platform.api.errors.server_error"
