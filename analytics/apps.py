from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """The read side across domains: alerts, KPIs, ML, recommendations, dispatch scenarios."""

    name = "analytics"
    verbose_name = "Analytics"
