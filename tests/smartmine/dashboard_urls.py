"""The project's URLs, with the dashboard's added when the project does not route it yet (test-only)."""

from django.urls import Resolver404, include, path, resolve

from smartmine.urls import handler400, handler403, handler404, handler500, urlpatterns  # noqa: F401

try:
    resolve("/", urlconf="smartmine.urls")
except Resolver404:
    urlpatterns = [*urlpatterns, path("", include("smartmine.dashboard.urls"))]
