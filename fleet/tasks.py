"""Celery tasks of the fleet app: history maintenance (partitions ahead, retention, one-minute rollups) and
the vacuum of the tables every tick rewrites.

Scheduled by django-celery-beat entries created in fleet/migrations/0004_beat_schedule.py and
0010_vacuum_schedule.py.
"""

from __future__ import annotations

import logging

from celery import current_app, shared_task
from celery.signals import worker_process_init, worker_ready
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connections

from fleet import partitions, readings

log = logging.getLogger(__name__)


#: History maintenance runs beside live ticks that write the same tables; PostgreSQL may pick it as the victim
#: of a deadlock (or lose its connection). Everything it does is idempotent, so it simply runs again.
RETRY_ON_DATABASE_ERRORS = {"autoretry_for": (OperationalError,), "retry_backoff": 2, "max_retries": 3}


@shared_task(ignore_result=True, **RETRY_ON_DATABASE_ERRORS)
def maintain_partitions_task() -> dict[str, list[str]]:
    """Create reading/rollup partitions a week ahead and drop those past retention (hourly)."""
    created = partitions.create_partitions_ahead()
    dropped = partitions.drop_expired_partitions()
    if created or dropped:
        log.info("partitions maintained: %d created, %d dropped", len(created), len(dropped))
    return {"created": created, "dropped": dropped}


@shared_task(ignore_result=True, **RETRY_ON_DATABASE_ERRORS)
def rollup_readings_task() -> int:
    """Summarise the last minutes of readings into one-minute avg/min/max rollups (every minute)."""
    return readings.rollup_recent()


#: Autovacuum's rule: a table is due when its dead rows (or its TOAST table's) exceed this many plus this
#: share of its live ones. The share is autovacuum's default; the base is 1,000 instead of its 50, so that a
#: small table is not vacuumed every minute.
VACUUM_BASE_THRESHOLD = 1000
VACUUM_SCALE_FACTOR = 0.2


@shared_task(ignore_result=True)
def vacuum_busy_tables_task() -> list[str]:
    """VACUUM the tables whose dead rows are past autovacuum's rule (every minute).

    Every tick rewrites the site's engine state (hundreds of kB of TOAST at 1,000 trucks), its units' rows
    and the KPI ledger. Where the server's autovacuum is off, or too slow for a row rewritten every second,
    nothing frees the old versions: the site table grew by 375 kB a tick (450 MB in 20 minutes) and every
    write of the tick slowed with it. With autovacuum keeping up this finds nothing to do. SKIP_LOCKED:
    never waits behind a lock."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # read the counters as they are now
        cursor.execute(
            """
            SELECT format('%%I.%%I', n.nspname, m.relname)
            FROM pg_class m
            JOIN pg_namespace n ON n.oid = m.relnamespace
            JOIN pg_stat_all_tables main ON main.relid = m.oid
            LEFT JOIN pg_stat_all_tables toast ON toast.relid = m.reltoastrelid
            WHERE m.relkind = 'r' AND n.nspname = current_schema()
              AND (main.n_dead_tup > %(base)s + %(scale)s * main.n_live_tup
                   OR toast.n_dead_tup > %(base)s + %(scale)s * toast.n_live_tup)
            ORDER BY 1
            """,
            {"base": VACUUM_BASE_THRESHOLD, "scale": VACUUM_SCALE_FACTOR},
        )
        due = [name for (name,) in cursor.fetchall()]
        if due:
            cursor.execute(f"VACUUM (SKIP_LOCKED) {', '.join(due)}")
    if due:
        log.debug("vacuumed %s", ", ".join(due))
    return due


@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),  # PostgreSQL restarting: the tick is safe to redo
    retry_backoff=1,
    max_retries=3,
)
def tick_site_task(site_id: int) -> dict:
    """Advance one site's simulation to now (beat runs one entry per site every SIMULATION_INTERVAL).

    Takes the site id, not the model: the tick reloads and locks the row itself. Overlapping or duplicate
    firings are skipped by the tick (row lock, minimum spacing), so retries and double beats are harmless;
    a tick that loses its database connection rolled back, and is retried.
    """
    from fleet.tick_summary import note_tick
    from fleet.ticking import tick_site

    outcome = tick_site(site_id)
    if outcome.applied:
        log.debug(
            "tick applied",
            extra={"site": site_id, "tick": outcome.tick, "readings": outcome.readings, **outcome.timings_s},
        )
    note_tick(outcome)  # the console's line once a minute
    return {"applied": outcome.applied, "reason": outcome.reason, "tick": outcome.tick}


@worker_ready.connect(weak=False)
def _fresh_tick_summary(**_: object) -> None:
    """A worker that starts summarises its own run's ticks, not those left by the run before."""
    from fleet.tick_summary import forget

    forget()


@worker_process_init.connect(weak=False)
def _keep_ticking_states(**_: object) -> None:
    """A pool process of a worker that serves the tick queue keeps the ticking sites' states when it starts
    (fleet.ticking.keep_ticking_states says why); any other worker, or a database that does not answer,
    leaves it to the first tick."""
    if settings.TICK_QUEUE not in (current_app.amqp.queues.consume_from or {}):
        return
    from fleet.ticking import keep_ticking_states

    try:
        kept = keep_ticking_states()
    except DatabaseError as error:
        log.warning("tick states not kept at start: %s", error)
        return
    finally:
        connections.close_all()  # the pool process opens its own connection when it ticks
    log.info("tick states kept at start", extra={"sites": kept})
