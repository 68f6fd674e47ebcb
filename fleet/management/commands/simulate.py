"""manage.py simulate: run a site's engine headless, as fast as it goes, persisting through the tick path."""

from __future__ import annotations

import datetime as dt
import math
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from fleet import seeding, selectors
from fleet.models import Site
from fleet.readings import kept_window
from fleet.sim import SiteState, step
from fleet.sim.state import new_rng_state
from fleet.ticking import SIMULATED_AHEAD_S, StepRecord, dispatcher_for, load_state, save_steps

#: Simulated seconds per engine step: the engine sub-steps at 10 s anyway, and one reading per unit per
#: step at this spacing is what live ticks at the default interval produce.
STEP_S = 10.0
#: Steps written per transaction: large enough for COPY to pay off, small enough to show progress.
BATCH_STEPS = 360
#: A clock older than retention keeps starts this far inside the window, so the first batch is still kept.
STALE_CLOCK_MARGIN = dt.timedelta(hours=1)


def positive_hours(value: str) -> float:
    hours = float(value)
    if not (math.isfinite(hours) and 0 < hours <= 24 * 366):
        raise ValueError(value)
    return hours


class Command(BaseCommand):
    help = (
        "Run the simulation of a site headless for --hours of simulated time, as fast as possible, storing "
        "readings, events and state through the same path as live ticks (history for training and demos)."
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
        with transaction.atomic():
            state = load_state(Site.objects.select_for_update().get(pk=site_row.pk))
        dispatcher = dispatcher_for(site_row)
        if seed is not None:
            state.seed, state.rng_state = seed, new_rng_state(seed)
        total_steps = math.ceil(hours * 3600 / STEP_S)
        self.keep_inside_the_window(site_row.name, state, total_steps * STEP_S, dry_run)
        start_clock = state.clock_s
        progress = tqdm(total=total_steps, unit="step", file=sys.stderr, disable=not sys.stderr.isatty())
        started = time.perf_counter()
        readings = events = 0
        done = 0
        while done < total_steps:
            batch = min(BATCH_STEPS, total_steps - done)
            records = [StepRecord.of(step(state, STEP_S, dispatcher=dispatcher)) for _ in range(batch)]
            if not dry_run:
                counts = self.persist(site_row.pk, records, state, dispatcher)
                readings, events = readings + counts["readings"], events + counts["events"]
            else:
                readings += sum(len(rows) for record in records for rows in record.readings.values())
                events += sum(len(record.events) for record in records)
            done += batch
            progress.update(batch)
        progress.close()
        elapsed = time.perf_counter() - started
        self.stdout.write(
            f"simulated {hours:g} h of {site_row.name!r} in {elapsed:.1f} s: {readings:,} readings, "
            f"{events:,} events{' (dry run: nothing written)' if dry_run else ''}"
        )
        if export is not None:
            start = dt.datetime.fromtimestamp(start_clock, dt.UTC)
            end = dt.datetime.fromtimestamp(state.clock_s, dt.UTC) + dt.timedelta(microseconds=1)
            with export.open("wb") as out:
                rows = selectors.write_readings_csv(
                    out, kind="truck", site=site_row.slug, start=start, end=end
                )
            self.stdout.write(f"exported {rows:,} truck readings to {export}")

    def keep_inside_the_window(self, name: str, state: SiteState, span_s: float, dry_run: bool) -> None:
        """History older than retention keeps is refused: a stale clock skips forward (as a late tick
        does); a run that would end more than SIMULATED_AHEAD_S ahead of now is refused before it starts."""
        window = kept_window(ahead_s=SIMULATED_AHEAD_S)
        oldest = window.start + STALE_CLOCK_MARGIN
        if state.clock_s < oldest.timestamp():
            self.stdout.write(
                f"{name!r}'s simulated clock is older than the {window.retention_days} days of history kept: "
                f"starting at {oldest:%Y-%m-%d %H:%M} UTC"
            )
            state.clock_s = oldest.timestamp()
        end = dt.datetime.fromtimestamp(state.clock_s + span_s, dt.UTC)
        if end > window.end and not dry_run:
            raise CommandError(
                f"{name!r}'s simulated clock would reach {end:%Y-%m-%d %H:%M} UTC, more than "
                f"{SIMULATED_AHEAD_S // 86_400} days ahead of now: simulate fewer hours or a new site"
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
    def persist(site_id: int, records: list[StepRecord], state: SiteState, dispatcher) -> dict[str, int]:
        with transaction.atomic():
            locked = Site.objects.select_for_update().get(pk=site_id)  # live ticks wait; never interleave
            locked.dispatch_state = dispatcher.to_dict() if hasattr(dispatcher, "to_dict") else {}
            return save_steps(locked, records, state, now=timezone.now())
