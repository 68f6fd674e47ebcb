"""Top-level URL map. API paths take an optional trailing slash, so the original clients work unchanged."""

from django.contrib import admin
from django.urls import re_path

from smartmine import views

admin.site.site_header = "SmartMine control room"
admin.site.site_title = "SmartMine"
admin.site.index_title = "Control room"

urlpatterns = [
    re_path(r"^admin/", admin.site.urls),
    re_path(r"^api/health/?$", views.health_view, name="health"),
    re_path(r"^api/version/?$", views.version_view, name="version"),
]
