"""Routes of the dashboard: the page at the root and its map's layout endpoint (optional trailing slash).

Included by the project at the root: `path("", include("smartmine.dashboard.urls"))`, after the API routes.
"""

from django.urls import path, re_path

from smartmine.dashboard import views

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    re_path(r"^api/sites/(?P<pk>\d+)/layout/?$", views.SiteLayoutView.as_view(), name="site-layout"),
]
