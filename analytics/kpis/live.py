"""The current shift's KPIs, computed once a simulated minute by the tick, sent and served from there.

Registered as a fleet.hooks after_history hook: a tick whose simulated clock crosses a minute computes the
shift's figures after its commit (from the KPI ledgers: a lookup, not a scan), publishes them as `kpi_update`
on the `kpis` stream (docs/live.md) and keeps them in Redis. `GET /api/mining/kpis?window=shift` answers from
that copy while the site's simulated clock is still in the same minute (`as_of` says to when the figures run),
so a control room polling it costs a lookup, whatever the history holds. Anything else, or a copy that does
not match (another shift, a renamed or recreated site, Redis down), is computed from the ledgers as before.
Telemetry, backfills and rebuilds of a site's ledgers drop its copy: until the next minute, requests compute.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from typing import Any

import orjson
import redis
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_orjson_renderer.renderers import ORJSONRenderer

from analytics.kpis import formulas, kept, selectors
from smartmine.platform import live

logger = logging.getLogger(__name__)

MINUTE_S = 60.0


def kpi_body(
    site: Any, *, name: str, start: dt.datetime, end: dt.datetime, clock: dt.datetime | None
) -> dict:
    """What /api/mining/kpis answers for one site and window, up to the site's simulated `clock`."""
    figures = formulas.mine_kpis(selectors.kpi_aggregates(site.pk, start=start, end=end, clock=clock))
    window = {
        "name": name,
        "from": start,
        "to": end,
        "hours": (end - start).total_seconds() / 3600,
        "timezone": site.timezone,
    }
    as_of = min(end, clock or timezone.now())
    site_row = {"id": site.pk, "name": site.name, "slug": site.slug}
    return {"site": site_row, "window": window, "as_of": as_of, **figures}


def json_ready(body: dict) -> dict:
    """`body` with dates as the API writes them (the API's own renderer), for frames and the kept copy."""
    return orjson.loads(ORJSONRenderer().render(body))


def current_shift(site: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The site's current-shift KPIs as /api/mining/kpis?window=shift answers them (JSON-ready)."""
    clock = now or site.sim_clock or timezone.now()
    start, end = formulas.window("shift", clock, site.timezone)
    return json_ready(kpi_body(site, name="shift", start=start, end=end, clock=clock))


def kept_shift(site: Any) -> dict[str, Any] | None:
    """The kept current-shift figures if they still hold for `site` (its shift, its simulated minute)."""
    clock = site.sim_clock
    body = kept.load(site) if clock is not None else None
    if body is None:
        return None
    start, end = formulas.window("shift", clock, site.timezone)
    as_of = parse_datetime(body["as_of"])
    same = (
        body["site"] == {"id": site.pk, "name": site.name, "slug": site.slug}
        and (parse_datetime(body["window"]["from"]), parse_datetime(body["window"]["to"])) == (start, end)
        and body["window"]["timezone"] == site.timezone
        and as_of <= clock
        and as_of.timestamp() // MINUTE_S == clock.timestamp() // MINUTE_S
    )
    return body if same else None


def kept_shift_answer(site: Any) -> tuple[str, bytes] | None:
    """(ETag, JSON bytes) of the kept current-shift figures as the API answers them, None if none hold."""
    body = kept_shift(site)
    if body is None:
        return None
    content = ORJSONRenderer().render(body)
    return f'"kpis-{hashlib.blake2b(content, digest_size=12).hexdigest()}"', content


def publish_each_minute(site: Any, records: list, *, history_only: bool) -> None:
    """fleet.hooks after_history: after commit, compute, publish and keep the shift's KPIs when the tick
    crosses a minute. A history batch (simulate, backfill) drops the kept copy instead."""
    if not records:
        return
    if history_only:
        kept.forget([site.pk])
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

            fresh = Site.objects.get(pk=site_id)
            figures = current_shift(fresh, now=clock)
            live.publish(site_id, {live.STREAM_TYPES["kpis"]: [figures]})
        except Exception:
            logger.exception("kpi_update failed", extra={"site": site_id})
            return
        try:
            kept.store(fresh, figures)
        except redis.RedisError:
            logger.warning("could not keep the shift KPIs: requests compute them", extra={"site": site_id})

    transaction.on_commit(publish)
