from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """The read side across domains: alerts, KPIs, ML, recommendations, dispatch scenarios."""

    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from analytics import ml_selectors
        from smartmine import metrics, snapshots

        # Snapshots of the live ai and alerts streams, and the model gauges read at each /metrics scrape.
        snapshots.STREAM_SNAPSHOTS["ai"] = ml_selectors.recommendation_snapshot
        snapshots.STREAM_SNAPSHOTS["alerts"] = lambda site_id: ml_selectors.alert_items(site_id=site_id)
        metrics.SCRAPE_HOOKS.append(ml_selectors.sample_model_metrics)
