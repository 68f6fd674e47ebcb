"""Project URLs plus the scenario routes and admin pages when the project does not include them yet
(test-only). The admin's URL list is taken again after analytics.scenario_admin has registered."""

from django.contrib import admin
from django.urls import Resolver404, include, re_path, resolve

import analytics.scenario_admin  # noqa: F401  (registers the Scenario admin)
from smartmine.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401

try:
    resolve("/api/scenarios", urlconf="smartmine.urls")
except Resolver404:
    urlpatterns = [*urlpatterns, re_path(r"^api/", include("analytics.scenario_urls"))]
urlpatterns = [re_path(r"^admin/", admin.site.urls), *urlpatterns]
