"""manage.py simulate: history for training and demos, simulated headless as fast as it goes, that ends now.

A live site's simulated clock follows the wall clock (real telemetry is accepted only near wall time), so
`simulate` never moves it ahead: it simulates the hours BEFORE the history the site already has (before now
for a site without history), from a copy of the site's state moved back in time, and writes the readings,
events and fault labels of those hours. The live twin's state, unit rows and alarms stay as the tick left
them. A site without any history (just seeded) takes the simulated state at the end, so its first live tick
continues the history seamlessly (docs/simulation.md).
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone
from tqdm import tqdm

from fleet import seeding, selectors
from fleet.histories import histories
from fleet.models import FaultLabel, SimEvent, Site
from fleet.readings import kept_window
from fleet.sim import SiteState, step
from fleet.sim.faults import SERVICE_RECORD
from fleet.sim.state import new_rng_state
from fleet.sim.timeshift import forget_faults, move_clock
from fleet.ticking import StepRecord, dispatcher_for, load_state, save_steps

#: Simulated seconds per engine step: the engine sub-steps at 10 s anyway, and one reading per unit per
#: step at this spacing is what live ticks at the default interval produce.
STEP_S = 10.0
#: Steps written per transaction: large enough for COPY to pay off, small enough to show progress.
BATCH_STEPS = 360
#: History must start this far inside the retention window, so retention does not drop it while it is written.
RETENTION_MARGIN = dt.timedelta(hours=1)
#: Faults of backfilled history are numbered from here (or after an earlier backfill's): the live twin
#: counts up from 1 and never gets here, so the two never share a fault label.
BACKFILL_FAULT_IDS_FROM = 1_000_000_000
#: A live clock further than this ahead of the wall clock is reported (an older `simulate` moved it).
AHEAD_NOTE_S = 300.0


def positive_hours(value: str) -> float:
    hours = float(value)
    if not (math.isfinite(hours) and 0 < hours <= 24 * 366):
        raise ValueError(value)
    return hours


class Command(BaseCommand):
    help = (
        "Simulate --hours of a site's history headless, as fast as possible, ending now (or where the site's "
        "stored history begins): readings, events and fault labels for training and demos. The live site's "
        "clock and state are left where the live tick has them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--site", default=seeding.DEFAULT_SITE_NAME, help="site name (seeded if missing)")
        parser.add_argument(
            "--hours", type=positive_hours, default=24.0, help="simulated hours (0 < h <= 8784)"
        )
        parser.add_argument("--seed", type=int, default=None, help="reseed the engine's random stream")
        parser.add_argument("--dry-run", action="store_true", help="simulate without writing anything")
        parser.add_argument("--export", type=Path, help="write the simulated truck readings to this CSV file")

    def handle(
        self, *args, site: str, hours: float, seed: int | None, dry_run: bool, export: Path | None, **_
    ):
        if export is not None and dry_run:
            raise CommandError("--export needs the readings stored: drop --dry-run")
        if export is not None and not export.parent.is_dir():
            raise CommandError(f"--export: folder {export.parent} does not exist")
        site_row = self.site_for(site, seed)
        now = timezone.now()
        first = first_stored_time(site_row)
        # The last simulated step is a step before the first stored one: readings never share a time.
        end = now if first is None else min(now, first - dt.timedelta(seconds=STEP_S))
        total_steps = math.ceil(hours * 3600 / STEP_S)
        start = end - dt.timedelta(seconds=total_steps * STEP_S)
        self.check_retention(site_row.name, start, end, first, now)
        with transaction.atomic():
            locked = Site.objects.select_for_update().get(pk=site_row.pk)
            state = load_state(locked)
            seen = (locked.tick, locked.last_tick_at)
        if state.clock_s > now.timestamp() + AHEAD_NOTE_S:
            ahead_h = (state.clock_s - now.timestamp()) / 3600
            self.stdout.write(
                f"note: {site_row.name!r}'s live clock is {ahead_h:.1f} h ahead of wall time; "
                "simulate leaves it there"
            )
        fresh = first is None  # nothing stored yet: the simulated state can become the live one
        move_clock(state, start.timestamp())
        if not fresh:
            forget_faults(state, next_fault_id=next_backfill_fault_id(site_row))
            seed = int(start.timestamp()) if seed is None else seed  # not the live twin's own random stream
        if seed is not None:
            state.seed, state.rng_state = seed, new_rng_state(seed)
        if not dry_run:
            seeding.record_last_services(site_row, state)  # as of the simulated history's start
        dispatcher = dispatcher_for(site_row)
        progress = tqdm(total=total_steps, unit="step", file=sys.stderr, disable=not sys.stderr.isatty())
        started = time.perf_counter()
        readings = events = done = 0
        while done < total_steps:
            batch = min(BATCH_STEPS, total_steps - done)
            records = [StepRecord.of(step(state, STEP_S, dispatcher=dispatcher)) for _ in range(batch)]
            if dry_run:
                readings += sum(len(rows) for record in records for rows in record.readings.values())
                events += sum(len(record.events) for record in records)
            else:
                counts = self.persist_history(site_row.pk, records, state)
                readings, events = readings + counts["readings"], events + counts["events"]
            done += batch
            progress.update(batch)
        progress.close()
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"simulated {hours:g} h of {site_row.name!r} in {elapsed:.1f} s: {readings:,} readings, "
            f"{events:,} events from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
            f"{' (dry run: nothing written)' if dry_run else ''}"
        )
        if fresh and not dry_run:
            self.adopt(site_row.pk, state, dispatcher, seen, total_steps, end)
        if export is not None:
            with export.open("wb") as out:
                rows = selectors.write_readings_csv(
                    out, kind="truck", site=site_row.slug, start=start, end=end + dt.timedelta(microseconds=1)
                )
            self.stdout.write(f"exported {rows:,} truck readings to {export}")

    def check_retention(
        self, name: str, start: dt.datetime, end: dt.datetime, first: dt.datetime | None, now: dt.datetime
    ) -> None:
        """History older than retention keeps would be refused (or dropped at once): say so before writing."""
        window = kept_window(now)
        oldest = window.start + RETENTION_MARGIN
        if start >= oldest:
            return
        room_h = max(0.0, (end - oldest).total_seconds() / 3600)
        before = "now" if first is None else f"the site's first reading ({first:%Y-%m-%d %H:%M} UTC)"
        raise CommandError(
            f"--hours: {name!r}'s history would start at {start:%Y-%m-%d %H:%M} UTC, before the "
            f"{window.retention_days} days of history kept; at most {room_h:.1f} h fit before {before}"
        )

    def site_for(self, name: str, seed: int | None) -> Site:
        found = Site.objects.filter(name=name).first()
        if found is not None:
            return found
        self.stdout.write(f"site {name!r} does not exist: seeding it")
        return seeding.seed_site(
            name=name,
            trucks=settings.MAX_TRUCKS,
            crushers=settings.MAX_CRUSHERS,
            stockpiles=settings.MAX_STOCKPILES,
            seed=7 if seed is None else seed,
        ).site

    @staticmethod
    def persist_history(site_id: int, records: list[StepRecord], state: SiteState) -> dict[str, int]:
        """Readings, events and fault labels alone: no site lock, so live ticks go on meanwhile."""
        with transaction.atomic():
            site = Site.objects.get(pk=site_id)
            return save_steps(site, records, state, now=timezone.now(), history_only=True)

    def adopt(
        self, site_id: int, state: SiteState, dispatcher, seen: tuple, steps: int, end: dt.datetime
    ) -> None:
        """A site without history takes the simulated state (its clock at the history's end, before now),
        unless the live twin ticked it meanwhile: then the tick's state stays. Its last tick is dated at the
        history's end, so the next live tick catches up the minutes this command ran (docs/simulation.md)."""
        with transaction.atomic():
            site = Site.objects.select_for_update().get(pk=site_id)  # live ticks wait; never interleave
            if (site.tick, site.last_tick_at) != seen:
                self.stdout.write(f"{site.name!r} was ticked live meanwhile: its live state stays")
                return
            site.dispatch_state = dispatcher.to_dict() if hasattr(dispatcher, "to_dict") else {}
            site.tick += steps
            save_steps(site, [], state, now=end)


def first_stored_time(site: Site) -> dt.datetime | None:
    """When the site's stored history begins: its earliest reading of any kind or event (None: none yet)."""
    times = [
        item.reading.objects.filter(equipment__site=site).aggregate(first=Min("ts"))["first"]
        for item in histories()
    ]
    events = SimEvent.objects.filter(site=site).exclude(kind=SERVICE_RECORD)  # records, not history
    times.append(events.aggregate(first=Min("ts"))["first"])
    return min((when for when in times if when is not None), default=None)


def next_backfill_fault_id(site: Site) -> int:
    """After every fault label the site has in the backfill range (history simulated earlier)."""
    last = FaultLabel.objects.filter(site=site, fault_id__gte=BACKFILL_FAULT_IDS_FROM).aggregate(
        last=Max("fault_id")
    )["last"]
    return BACKFILL_FAULT_IDS_FROM if last is None else last + 1
