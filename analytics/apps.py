from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """The read side across domains: alerts, KPIs, ML, recommendations, dispatch scenarios."""

    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from analytics import ml_selectors
        from smartmine.platform import live, metrics

        # Snapshots of the live ai and alerts streams, and the model gauges read at each /metrics scrape.
        live.register_stream("ai", ml_selectors.recommendation_snapshot)
        live.register_stream("alerts", ml_selectors.alert_items)
        metrics.SCRAPE_HOOKS.append(ml_selectors.sample_model_metrics)
