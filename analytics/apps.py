from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """The read side across domains: alerts, KPIs, ML, recommendations, dispatch scenarios."""

    name = "analytics"
    verbose_name = "Analytics"

    def ready(self) -> None:
        from analytics.alerts import alarms, engine
        from analytics.alerts.selectors import alert_items
        from analytics.kpis import ledger_store
        from analytics.kpis import live as kpi_live
        from analytics.recommendations.selectors import recommendation_snapshot
        from analytics.scoring.selectors import sample_model_metrics
        from fleet import hooks
        from smartmine.platform import live, metrics

        # Snapshots of the live ai and alerts streams, and the model gauges read at each /metrics scrape.
        live.register_stream("ai", recommendation_snapshot)
        live.register_stream("alerts", alert_items)
        metrics.SCRAPE_HOOKS.append(sample_model_metrics)
        # Alarm rules on every saved step and telemetry batch, inside its transaction (fleet.hooks).
        hooks.register_capture("alarms", engine.capture)
        hooks.register_after_steps(alarms.evaluate_steps)
        hooks.register_after_telemetry(alarms.evaluate_telemetry)
        # KPI ledgers on every saved step (history-only too) and telemetry batch, in its transaction; the
        # kpis stream's kpi_update once a simulated minute (analytics.kpis.live).
        hooks.register_after_history(ledger_store.record_steps)
        hooks.register_after_history(kpi_live.publish_each_minute)
        hooks.register_after_telemetry(ledger_store.record_telemetry)
