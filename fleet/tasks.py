"""Celery tasks of the fleet app: history maintenance (partitions ahead, retention, one-minute rollups).

Scheduled by django-celery-beat entries created in fleet/migrations/0004_beat_schedule.py.
"""

from __future__ import annotations

import logging

from celery import shared_task

from fleet import readings

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def maintain_partitions_task() -> dict[str, list[str]]:
    """Create reading/rollup partitions a week ahead and drop those past retention (hourly)."""
    created = readings.create_partitions_ahead()
    dropped = readings.drop_expired_partitions()
    if created or dropped:
        log.info("partitions maintained: %d created, %d dropped", len(created), len(dropped))
    return {"created": created, "dropped": dropped}


@shared_task(ignore_result=True)
def rollup_readings_task() -> int:
    """Summarise the last minutes of readings into one-minute avg/min/max rollups (every minute)."""
    return readings.rollup_recent()
