"""Where the tick keeps the current shift's KPIs for the API (analytics.kpis.live): one Redis key per site.

Apart from live so that the ledger writers (ledger_store, rebuild) can drop a site's copy without importing
what computes it."""

from __future__ import annotations

import logging
from typing import Any

import orjson
import redis
from django.conf import settings
from django.db import transaction

from smartmine.platform import readmodel

logger = logging.getLogger(__name__)

#: How long a copy lives without ticks (it is served only within its simulated minute anyway).
KEPT_S = 3600


def _key(site_id: int) -> str:
    return f"{settings.REDIS_PREFIX}kpis.shift.s{site_id}"


def store(site: Any, figures: dict[str, Any]) -> None:
    """Keep the shift's figures; `created` tells a site recreated under the same id apart."""
    entry = {"created": site.created_at.isoformat(), "body": figures}
    readmodel.redis_client().set(_key(site.pk), orjson.dumps(entry), ex=KEPT_S)


def load(site: Any) -> dict[str, Any] | None:
    """The figures kept for this very site (None: none, another site under its id, or Redis down)."""
    try:
        raw = readmodel.redis_client().get(_key(site.pk))
    except redis.RedisError:
        return None
    if raw is None:
        return None
    entry = orjson.loads(raw)
    return entry["body"] if entry.get("created") == site.created_at.isoformat() else None


def forget(site_ids: list[int]) -> None:
    """Drop the copies of sites whose ledgers changed outside a tick, once that change commits."""

    def drop() -> None:
        try:
            readmodel.redis_client().delete(*(_key(site_id) for site_id in site_ids))
        except redis.RedisError:
            logger.warning("could not drop kept shift KPIs", extra={"sites": site_ids})

    if site_ids:
        transaction.on_commit(drop)
