"""`kpi_update` on the `kpis` stream (docs/live.md): the current shift's KPIs, once a simulated minute.

Registered as a fleet.hooks after_history hook: a tick whose simulated clock crosses a minute publishes after
its commit, so the figures include that tick. They are read from the KPI ledgers (a lookup, not a scan).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from analytics.kpis import formulas, selectors
from smartmine.platform import live

logger = logging.getLogger(__name__)

MINUTE_S = 60.0


def current_shift(site: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The site's current-shift KPIs as /api/mining/kpis?window=shift answers them (JSON-ready)."""
    clock = now or site.sim_clock or timezone.now()
    start, end = formulas.window("shift", clock, site.timezone)
    figures = formulas.mine_kpis(selectors.kpi_aggregates(site.pk, start=start, end=end, clock=clock))
    window = {
        "name": "shift",
        "from": start.isoformat(),
        "to": end.isoformat(),
        "hours": (end - start).total_seconds() / 3600,
        "timezone": site.timezone,
    }
    return {"site": {"id": site.pk, "name": site.name, "slug": site.slug}, "window": window, **figures}


def publish_each_minute(site: Any, records: list, *, history_only: bool) -> None:
    """fleet.hooks after_history: publish the shift's KPIs after commit when the tick crosses a minute."""
    if history_only or not records:
        return
    before = site.sim_clock.timestamp() if site.sim_clock else records[0].clock_s - MINUTE_S
    after = records[-1].clock_s
    if before // MINUTE_S == after // MINUTE_S:
        return
    clock = dt.datetime.fromtimestamp(after, dt.UTC)
    site_id = site.pk

    def publish() -> None:
        try:
            from fleet.models import Site

            figures = current_shift(Site.objects.get(pk=site_id), now=clock)
            live.publish(site_id, {live.STREAM_TYPES["kpis"]: [figures]})
        except Exception:
            logger.exception("kpi_update failed", extra={"site": site_id})

    transaction.on_commit(publish)
