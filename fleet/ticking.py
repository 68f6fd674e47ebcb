"""One simulation tick of one site: lock, load, step the pure engine, save in one transaction, publish.

Why a row lock and not a Redis lock: `SELECT … FOR NO KEY UPDATE` on the site row lives exactly as long as
the transaction that writes the tick, so a second worker can never tick the same site concurrently, and a
worker killed mid-tick releases it with its connection and leaves nothing half-written. Telemetry and
operators take the same lock first (fleet.locks: the one lock order), for milliseconds, so the tick waits
for them up to SITE_LOCK_WAIT_S rather than skipping; a second firing that waits out a running tick then
finds it too soon after it. The tick number only grows, and a tick that comes too soon after the last one
(beat firing twice, two beats) is skipped, so each interval of simulated time is applied once.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from fleet import dispatch, hooks, locks, state_cache, units
from fleet.histories import history_kinds
from fleet.models import FaultLabel, Loader, MiningZone, SimEvent, Site, Truck, WasteDump
from fleet.readings import ingest_readings, kept_window
from fleet.sim import SiteState, set_operator_status, step
from smartmine.platform import live, metrics

logger = logging.getLogger(__name__)

#: A tick that finds its site more than this far behind wall-clock time simulates this much and jumps the
#: simulated clock to now (documented in docs/simulation.md): a mine switched off overnight does not
#: replay the night in one tick.
MAX_CATCH_UP_S = 300.0
#: A tick earlier than this share of the interval after the previous one is a duplicate firing.
MIN_INTERVAL_SHARE = 0.5
#: Simulated time may run ahead of the wall clock (SIMULATION_SPEED > 1; a site whose clock an older
#: `simulate` moved up to 8784 h ahead): the engine's readings may be this far ahead of now. Older than
#: retention keeps is refused for them as for any reading (docs/history.md).
SIMULATED_AHEAD_S = 366 * 86_400
#: How long a tick waits for its site's lock: telemetry and operator actions hold it for milliseconds; a
#: holder longer than this is another tick, an import's state update or the headless `simulate`, and the
#: tick is skipped (the next one catches up the wall time).
SITE_LOCK_WAIT_S = 0.5


@dataclass
class TickOutcome:
    site_id: int
    applied: bool
    reason: str = ""
    tick: int | None = None
    simulated_s: float = 0.0
    timings_s: dict[str, float] = field(default_factory=dict)
    readings: int = 0
    events: int = 0
    lag_s: float | None = None  # how late it came after its interval (None: headless, no interval)


def load_state(site: Site) -> SiteState:
    """The engine state stored with the site, with what operators and telemetry changed since applied."""
    return apply_unit_rows(site, _stored_state(site).state)


def _stored_state(site: Site) -> state_cache.Kept:
    """The site's engine state: kept from this worker's last tick when the row is still that version."""
    if "sim_state" not in site.get_deferred_fields():
        return state_cache.Kept(SiteState.from_dict(site.sim_state))
    version = getattr(site, "row_version", None)
    kept = state_cache.take(connection.alias, site.pk, version) if version else None
    metrics.TICK_STATE_LOADS.labels(source="memory" if kept else "database").inc()
    if kept is not None:
        return kept
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT sim_state::text FROM "{Site._meta.db_table}" WHERE id = %s', [site.pk])
        return state_cache.Kept(SiteState.from_json(cursor.fetchone()[0]))


def keep_ticking_states(limit: int = state_cache.MAX_SITES) -> int:
    """Keep the stored state of each ticking site now, as a tick that had just written it would.

    A tick worker runs several pool processes, and a site's ticks go to whichever is free: one process
    takes nearly all of them, another only when the first is busy (a long tick, a stall), and that first
    time it parses the state and keeps it. Its memory then rises by one state (~25 MB at 1,000 trucks)
    at some moment mid-run, once, which reads as a leak. Keeping the states when the process starts
    takes that memory up front, so a tick worker's size is known from its first minute; a state kept
    here is used only while the site row is still that version, like any other. Returns how many.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT id, xmin::text, sim_state::text FROM "{Site._meta.db_table}" '
            "WHERE NOT paused AND sim_state IS NOT NULL ORDER BY id LIMIT %s",
            [limit],
        )
        rows = cursor.fetchall()
    kept = 0
    for site_id, version, text in rows:
        if text in (None, "{}", "null"):
            continue  # a site that has never ticked has no state to keep
        state_cache.keep(connection.alias, site_id, version, state_cache.Kept(SiteState.from_json(text)))
        kept += 1
    return kept


def apply_unit_rows(site: Site, state: SiteState) -> SiteState:
    """What operators and telemetry changed on the unit rows since the state was saved (live, set points,
    maintenance), applied to the state."""
    for unit_kind in units.all_kinds():
        by_id = {unit.id: unit for unit in getattr(state, unit_kind.units)}
        status = ("status",) if unit_kind.in_service else ()
        columns = ("id", "live", *status, *unit_kind.setpoints)
        for row in unit_kind.model.objects.filter(site=site).values(*columns):
            unit = by_id.get(row["id"])
            if unit is None:
                continue  # added after seeding: not part of the simulation
            unit.live = row["live"]
            for name in unit_kind.setpoints:
                setattr(unit, name, row[name])
            if not status:
                continue
            if row["status"] == "maintenance" and unit.status != "maintenance":
                set_operator_status(state, unit_kind.kind, unit.id, "maintenance")
            elif unit.status == "maintenance" and row["status"] != "maintenance":
                set_operator_status(state, unit_kind.kind, unit.id, unit_kind.in_service)
    return state


def live_unit_ids(state: SiteState) -> dict[str, list[int]]:
    """The units fed by telemetry (live or stale), by kind, as apply_unit_rows just read their `live` flags:
    the tick publishes them with its rows, at no extra query.

    The engine's readings carry only simulated units, and a live unit's state changes with time alone (live
    to stale) or with telemetry the tick does not see (stale to live again; a backlog of old readings making
    a simulated unit stale at once), so each tick sends every one of them: never more rows than the same
    units would send simulated.
    """
    return {
        kind: [unit.id for unit in getattr(state, units.get(kind).units) if unit.live]
        for kind in history_kinds()
    }


def tick_site(site_id: int, *, now: dt.datetime | None = None, dt_s: float | None = None) -> TickOutcome:
    """Advance one site by the wall time since its last tick (or by dt_s simulated seconds, headless)."""
    started = time.perf_counter()
    with transaction.atomic():
        site = locks.lock_site_waiting(site_id, wait_s=SITE_LOCK_WAIT_S)
        if site is None:
            reason = "site busy (another tick or a long write)"
            reason = reason if Site.objects.filter(pk=site_id).exists() else "no such site"
            return _skipped(site_id, reason)
        if site.paused:
            return _skipped(site_id, "paused")
        now = now or timezone.now()
        lag_s = None
        scheduled = dt_s is None
        if scheduled:
            interval_s = scheduled_interval_s(site_id) or settings.SIMULATION_INTERVAL_S
            wall_s = (now - site.last_tick_at).total_seconds() if site.last_tick_at else interval_s
            if wall_s < interval_s * MIN_INTERVAL_SHARE:
                return _skipped(site_id, "too soon after the previous tick")
            dt_s = min(wall_s, MAX_CATCH_UP_S) * settings.SIMULATION_SPEED
            lag_s = max(0.0, wall_s - interval_s)
            metrics.TICK_LAG.labels(site=str(site_id)).set(lag_s)
        state_started = time.perf_counter()
        kept = _stored_state(site)
        state_s = time.perf_counter() - state_started
        state = apply_unit_rows(site, kept.state)
        if scheduled and wall_s > MAX_CATCH_UP_S and settings.SIMULATION_SPEED == 1:
            state.clock_s = max(state.clock_s, now.timestamp() - dt_s)  # skip the gap, documented
        step_started = time.perf_counter()
        dispatcher = dispatcher_for(site)
        result = step(state, dt_s, dispatcher=dispatcher)
        site.dispatch_state = dispatcher.to_dict() if hasattr(dispatcher, "to_dict") else {}
        persist_started = time.perf_counter()
        parts: dict[str, float] = {}
        records = [StepRecord.of(result)]
        fed_by_telemetry = live_unit_ids(state)  # live or stale: published with the tick's rows
        counts = save_steps(site, records, result.state, now=now, written=kept.written, timings=parts)
        kept = state_cache.Kept(result.state, kept.written)
        broadcast_s: list[float] = []
        after_commit_s: list[float] = []

        def after_commit() -> None:
            state_cache.keep(connection.alias, site_id, site.row_version, kept)
            broadcast_s.append(publish_tick_safely(site_id, result, also=fed_by_telemetry))
            hooks_started = time.perf_counter()
            hooks.after_commit(site_id)  # the read model (smartmine.platform.readmodel)
            after_commit_s.append(time.perf_counter() - hooks_started)

        transaction.on_commit(after_commit)
    done = time.perf_counter()
    broadcast = sum(broadcast_s)  # the on-commit callback ran as the block above committed
    hooks_s = sum(after_commit_s)
    timings = {
        "load": step_started - started,
        "load.state": state_s,  # kept in memory (fleet.state_cache) or parsed from the row
        "step": persist_started - step_started,
        "persist": done - persist_started - broadcast - hooks_s,  # includes the commit
        **{f"persist.{part}": seconds for part, seconds in parts.items()},
        "broadcast": broadcast,
        "after_commit": hooks_s,  # fleet.hooks.after_commit: the read model
        "total": done - started,
    }
    for phase, seconds in timings.items():
        metrics.TICK_DURATION.labels(phase=phase).observe(seconds)
    metrics.TICKS.labels(outcome="applied").inc()
    return TickOutcome(
        site_id, True, tick=site.tick, simulated_s=dt_s, timings_s=timings, lag_s=lag_s, **counts
    )


def scheduled_interval_s(site_id: int) -> float | None:
    """The interval of the site's beat entry (operators may retime it in admin), None without one."""
    from django_celery_beat.models import PeriodicTask

    from fleet.schedules import TICK_TASK

    task = PeriodicTask.objects.filter(task=TICK_TASK, args=f"[{site_id}]").select_related("interval").first()
    if task is None or task.interval is None:
        return None
    return task.interval.schedule.run_every.total_seconds()


def dispatcher_for(site: Site) -> dispatch.Dispatcher:
    """The site's chosen strategy; the optimiser resumes from the plan saved with the last tick."""
    if site.dispatch_strategy == "optimiser":
        return dispatch.get_dispatcher("optimiser", state=site.dispatch_state or None)
    return dispatch.get_dispatcher(site.dispatch_strategy)


def _skipped(site_id: int, reason: str) -> TickOutcome:
    metrics.TICKS.labels(outcome="skipped").inc()
    logger.debug("tick skipped", extra={"site": site_id, "reason": reason})  # counted in the minute summary
    return TickOutcome(site_id, False, reason)


@dataclass
class StepRecord:
    """What one engine step produced, captured at its own simulated time (the state object moves on)."""

    clock_s: float
    readings: dict[str, list[dict[str, Any]]]
    events: list
    labels: list[dict[str, Any]]
    captured: dict[str, Any] = field(default_factory=dict)  # what fleet.hooks captures register

    @classmethod
    def of(cls, result) -> StepRecord:
        return cls(
            result.state.clock_s, result.readings, result.events, result.labels, hooks.capture(result.state)
        )


def save_tick(site: Site, result, *, now: dt.datetime) -> dict[str, int]:
    """Write one step's state, readings, events and fault labels; the caller holds the transaction."""
    return save_steps(site, [StepRecord.of(result)], result.state, now=now)


def save_steps(
    site: Site,
    records: list[StepRecord],
    state: SiteState,
    *,
    now: dt.datetime,
    written: dict[str, dict[int, tuple]] | None = None,
    timings: dict[str, float] | None = None,
    history_only: bool = False,
) -> dict[str, int]:
    """Write several steps at once (the headless `simulate` batches them), ending at `state`.

    `history_only` writes the readings, events and fault labels alone: `simulate` backfilling history
    before a live site's leaves the site's state, unit rows and alarms where the live tick has them.

    `written` is what the previous save wrote to the unit rows (fleet.state_cache): unchanged rows are left
    alone, and it is updated with what this save writes. The site row's new version is set on
    `site.row_version`. `timings` receives the seconds of each part (readings, units, events, hooks, state).
    """
    clock = _PartClock(timings)
    readings = 0
    window = kept_window(now, ahead_s=SIMULATED_AHEAD_S)
    for kind in history_kinds():  # the engine reads out every kind that keeps a history
        rows = [
            {**row, "equipment_id": row["id"], "ts": dt.datetime.fromtimestamp(record.clock_s, dt.UTC)}
            for record in records
            for row in record.readings.get(kind, ())
        ]
        if rows:
            ingest_readings(kind, rows, window=window)
            metrics.READINGS_INGESTED.labels(kind=kind, source="simulator").inc(len(rows))
            readings += len(rows)
    clock.lap("readings")
    if not history_only:
        _save_unit_state(state, {} if written is None else written)
    clock.lap("units")
    events = [event for record in records for event in record.events]
    SimEvent.objects.bulk_create([SimEvent.from_engine(site, event) for event in events], batch_size=2000)
    _save_labels(site, [label for record in records for label in record.labels])
    clock.lap("events")
    hooks.after_history(site, records, history_only=history_only)  # KPI ledgers (analytics): fleet.hooks
    clock.lap("history")
    if history_only:
        return {"readings": readings, "events": len(events)}
    hooks.after_steps(site, records, state)  # alarm rules (analytics), in this transaction: fleet.hooks
    clock.lap("hooks")
    site.tick += len(records)
    site.last_tick_at = now
    site.sim_clock = dt.datetime.fromtimestamp(state.clock_s, dt.UTC)
    _save_site_row(site, state)
    clock.lap("state")
    return {"readings": readings, "events": len(events)}


class _PartClock:
    """Seconds between laps, into `timings` under the lap's name (nothing when timings is None)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[name] = self.timings.get(name, 0.0) + now - self.last
        self.last = now


def _save_site_row(site: Site, state: SiteState) -> None:
    """The engine state and tick counters in one UPDATE, the state serialised by orjson (SiteState.to_json).

    Django's JSONField would build the state as dicts and json.dumps them: ten times the cost at 1,000 trucks.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{Site._meta.db_table}" SET sim_state = %s::json, dispatch_state = %s::jsonb, '
            "tick = %s, last_tick_at = %s, sim_clock = %s WHERE id = %s RETURNING xmin::text",
            [
                state.to_json().decode(),
                orjson.dumps(site.dispatch_state or {}, option=orjson.OPT_NON_STR_KEYS).decode(),
                site.tick,
                site.last_tick_at,
                site.sim_clock,
                site.pk,
            ],
        )
        site.row_version = cursor.fetchone()[0]
    if "sim_state" not in site.get_deferred_fields():
        site.sim_state = state.to_dict()


def _save_unit_state(state: SiteState, written: dict[str, dict[int, tuple]]) -> None:
    """What readings do not carry: assignments, loader state, zone depletion, dump tonnage.

    Rows whose values are those in `written` (what the previous save wrote) are skipped.
    """
    update_rows(
        Truck,
        ["assigned_loader", "destination_crusher", "destination_dump"],
        [
            (truck.id, (truck.assignment or {}).get("loader_id"), _destination(truck, "crusher"),
             _destination(truck, "dump"))
            for truck in state.trucks
            if not truck.live
        ],
        written=written,
    )  # fmt: skip
    update_rows(
        Loader,
        ["status", "health", "engine_hours", "lat", "lon", "zone"],
        [
            (loader.id, str(loader.status), loader.health, loader.engine_hours, loader.lat, loader.lon,
             loader.zone_id)
            for loader in state.loaders
            if not loader.live
        ],
        written=written,
    )  # fmt: skip
    update_rows(
        MiningZone,
        ["remaining_t", "status"],
        [(zone.id, zone.remaining_t, str(zone.status)) for zone in state.zones],
        written=written,
    )
    update_rows(WasteDump, ["dumped_t"], [(dump.id, dump.dumped_t) for dump in state.dumps], written=written)


def update_rows(
    model, fields: list[str], rows: list[tuple], *, written: dict[str, dict[int, tuple]] | None = None
) -> None:
    """Set `fields` of many rows in one `UPDATE … FROM unnest(…)`: rows are (pk, *values), locked in id order.

    Django's bulk_update builds a CASE WHEN per row and field, which costs more than the whole engine step
    at 1,000 trucks; arrays keep it one statement with constant SQL. With `written` (table -> pk -> the
    values last written), rows written with the same values already are skipped, and `written` is updated.
    """
    if written is not None:
        previous = written.setdefault(model._meta.db_table, {})
        rows = [row for row in rows if previous.get(row[0]) != row]
        previous.update((row[0], row) for row in rows)
    if not rows:
        return
    columns = [model._meta.get_field(name) for name in fields]
    types = ["bigint", *(field.rel_db_type(connection) if field.is_relation else field.db_type(connection)
                         for field in columns)]  # fmt: skip
    names = ["id", *(field.column for field in columns)]
    arrays = ", ".join(f"%s::{db_type}[]" for db_type in types)
    assignments = ", ".join(f'"{name}" = v."{name}"' for name in names[1:])
    aliases = ", ".join(f'"{name}"' for name in names)
    values = [list(column) for column in zip(*rows, strict=True)]
    with connection.cursor() as cursor:
        locks.lock_units(cursor, model._meta.db_table, sorted(values[0]))
        cursor.execute(
            f'UPDATE "{model._meta.db_table}" AS t SET {assignments} '
            f"FROM unnest({arrays}) AS v({aliases}) WHERE t.id = v.id",
            values,
        )


def _destination(truck, kind: str) -> int | None:
    assignment = truck.assignment or {}
    return assignment.get("destination_id") if assignment.get("destination_kind") == kind else None


def _save_labels(site: Site, labels: list[dict[str, Any]]) -> None:
    """Ground truth of injected faults: a label is created when it starts and closed when it ends."""
    for label in labels:
        if label.get("event") == "ended":
            FaultLabel.objects.filter(site=site, fault_id=label["fault_id"]).update(
                ended_at=_from_clock(label["end_s"]), outcome=label.get("outcome", "ended")
            )
            continue
        FaultLabel.objects.update_or_create(
            site=site,
            fault_id=label["fault_id"],
            defaults={
                "category": label.get("category", ""),
                "label": label["label"],
                "unit_kind": label["unit_kind"],
                "unit_id": label["unit_id"],
                "sensors": label.get("sensors", []),
                "started_at": _from_clock(label["start_s"]),
                "planned_end_at": _from_clock(label.get("end_s")),
                "params": label.get("params", {}),
            },
        )


def _from_clock(clock_s: float | None) -> dt.datetime | None:
    return None if clock_s is None else dt.datetime.fromtimestamp(clock_s, dt.UTC)


def publish_tick_safely(site_id: int, result, *, also: dict[str, list[int]] | None = None) -> float:
    """The tick has committed: a failure to broadcast is logged and counted, never raised into the task.

    Returns the seconds it took (the tick's broadcast phase).
    """
    started = time.perf_counter()
    try:
        publish_tick(site_id, result, also=also)
    except Exception:
        metrics.BROADCASTS.labels(stream="tick", outcome="failed").inc()
        logger.exception("tick broadcast failed", extra={"site": site_id})
    return time.perf_counter() - started


def publish_tick(site_id: int, result, *, also: dict[str, list[int]] | None = None) -> None:
    """After commit: the changed units in the same shape as the REST lists, one message per stream.

    Each stream's rows come from the app that owns its equipment (smartmine.platform.live.register_stream).
    `also` adds units the engine does not move (those fed by telemetry, live or stale), by kind.
    """
    changed: dict[str, set[int]] = defaultdict(set)
    for kind, rows in result.readings.items():
        changed[kind].update(row["id"] for row in rows)
    for kind, ids in (also or {}).items():
        changed[kind].update(ids)
    updates = {
        live.STREAM_TYPES[live.EQUIPMENT_STREAMS[kind]]: live.stream_rows(
            live.EQUIPMENT_STREAMS[kind], site_id, ids=changed[kind]
        )
        for kind in history_kinds()
    }
    live.publish(site_id, updates)
