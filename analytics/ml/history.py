"""Headless reading/event/label histories from the engine, in the frame shapes the database will give.

The Django side builds the same frames from PostgreSQL (readings, the event log, fault labels), so training,
evaluation and live scoring all take one shape:

* readings: one frame per equipment kind, one row per (site_id, unit_kind, unit_id, ts): `status` and the
  sensor columns of `fleet.sim.schema.SENSORS[kind]` (ts is tz-aware UTC);
* events: site_id, ts, kind, unit_kind, unit_id, data (dict);
* labels: site_id, fault_id, category, label, unit_kind, unit_id, sensors (tuple), start, end, outcome.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import pandas as pd

from fleet.sim import FaultConfig, default_site, step
from fleet.sim.faults import service_records
from fleet.sim.schema import SENSORS

SAMPLE_S = 60.0  # one stored reading per unit per simulated minute; the engine sub-steps at 10 s inside
EVENT_COLUMNS = ["ts", "kind", "unit_kind", "unit_id", "data"]
LABEL_COLUMNS = [
    "fault_id",
    "category",
    "label",
    "unit_kind",
    "unit_id",
    "sensors",
    "start",
    "end",
    "outcome",
]


@dataclass(slots=True)
class History:
    """Readings per kind, the event log and fault ground truth of one site over a time span."""

    readings: dict[str, pd.DataFrame]
    events: pd.DataFrame
    labels: pd.DataFrame
    meta: dict = field(default_factory=dict)


def to_ts(clock_s: pd.Series | list[float]) -> pd.Series:
    return pd.to_datetime(pd.Series(clock_s, dtype="float64"), unit="s", utc=True)


def readings_frame(kind: str, rows: list[dict], clock_s: list[float]) -> pd.DataFrame:
    """Engine reading rows (each with its sample clock) → the stored shape for one equipment kind."""
    columns = ["unit_kind", "unit_id", "ts", "status", *SENSORS[kind]]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    frame = pd.DataFrame.from_records(rows)
    frame = frame.rename(columns={"id": "unit_id"})
    frame["ts"] = to_ts(clock_s).to_numpy()
    frame["unit_kind"] = kind
    frame["status"] = frame["status"].astype("string")
    return frame[columns].sort_values(["unit_id", "ts"], kind="stable").reset_index(drop=True)


def events_frame(events: list[dict]) -> pd.DataFrame:
    if not events:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    frame = pd.DataFrame.from_records(events)
    frame["ts"] = to_ts(frame.pop("clock_s")).to_numpy()
    return frame[EVENT_COLUMNS].sort_values("ts", kind="stable").reset_index(drop=True)


def labels_frame(labels: list[dict], end_clock_s: float) -> pd.DataFrame:
    """One row per fault: started/ended label pairs merged; a fault still open at the end keeps its plan."""
    records: dict[int, dict] = {}
    for item in labels:
        record = records.setdefault(item["fault_id"], dict(item, outcome=None))
        if item["event"] == "ended":
            record["end_s"] = item["end_s"]
            record["outcome"] = item["outcome"]
    rows = [
        {
            "fault_id": r["fault_id"],
            "category": r["category"],
            "label": r["label"],
            "unit_kind": r["unit_kind"],
            "unit_id": r["unit_id"],
            "sensors": tuple(r["sensors"]),
            "start_s": r["start_s"],
            "end_s": r["end_s"] if r["outcome"] is not None else min(r["end_s"], end_clock_s),
            "outcome": r["outcome"] or "open",
        }
        for r in records.values()
    ]
    if not rows:
        return pd.DataFrame(columns=LABEL_COLUMNS)
    frame = pd.DataFrame(rows)
    frame["start"] = to_ts(frame.pop("start_s")).to_numpy()
    frame["end"] = to_ts(frame.pop("end_s")).to_numpy()
    return frame[LABEL_COLUMNS].sort_values("start", kind="stable").reset_index(drop=True)


def simulate_history(
    seed: int,
    days: float = 7.0,
    *,
    trucks: int = 15,
    crushers: int = 3,
    stockpiles: int | None = None,
    sample_s: float = SAMPLE_S,
    config: FaultConfig | None = None,
) -> History:
    """Run the engine headless for `days` of simulated time and keep one reading per unit per sample_s."""
    state = default_site(
        seed=seed, trucks=trucks, crushers=crushers, stockpiles=stockpiles or crushers + 1, config=config
    )
    samples = round(days * 86_400.0 / sample_s)
    rows: dict[str, list[dict]] = {kind: [] for kind in SENSORS}
    clocks: dict[str, list[float]] = {kind: [] for kind in SENSORS}
    events: list[dict] = [e.to_dict() for e in service_records(state)]  # as a site's seeding writes them
    labels: list[dict] = []
    start_s = state.clock_s
    for _ in range(samples):
        result = step(state, sample_s)
        clock_s = state.clock_s
        for kind, kind_rows in result.readings.items():
            rows[kind].extend(kind_rows)
            clocks[kind].extend([clock_s] * len(kind_rows))
        events.extend(e.to_dict() for e in result.events)
        labels.extend(result.labels)
    frames = {kind: readings_frame(kind, rows[kind], clocks[kind]) for kind in SENSORS}
    event_frame, label_frame = events_frame(events), labels_frame(labels, state.clock_s)
    for frame in (*frames.values(), event_frame, label_frame):
        frame.insert(0, "site_id", seed)  # one simulated site per seed
    return History(
        readings=frames,
        events=event_frame,
        labels=label_frame,
        meta={
            "seed": seed,
            "days": days,
            "sample_s": sample_s,
            "start": pd.Timestamp(start_s, unit="s", tz="UTC"),
            "end": pd.Timestamp(state.clock_s, unit="s", tz="UTC"),
            "units": {"truck": trucks, "loader": len(state.loaders), "crusher": crushers},
        },
    )


def keep_readings(history: History, kinds: tuple[str, ...]) -> History:
    """The history with only `kinds`' readings (the event log and labels whole): what those kinds' features
    need, at a fraction of the memory (a default site-week's truck readings are ~36 MB of its ~59)."""
    return History({k: v for k, v in history.readings.items() if k in kinds}, history.events, history.labels,
                   history.meta)  # fmt: skip


def _simulate_one(args: tuple[int, float, tuple[str, ...] | None, dict]) -> History:
    seed, days, readings, kwargs = args
    history = simulate_history(seed, days, **kwargs)
    return history if readings is None else keep_readings(history, readings)


def simulate_histories(
    seeds: list[int],
    days: float = 7.0,
    workers: int = 2,
    *,
    nice: int = 0,
    progress: Callable[[int, int], None] | None = None,
    readings: tuple[str, ...] | None = None,
    **kwargs,
) -> list[History]:
    """Several seeds in parallel processes (the engine is single-threaded Python), in the order of `seeds`.

    `nice` lowers the simulating processes' CPU priority (a bootstrap beside a live twin must not make its
    ticks late); `progress(done, total)` is called as each seed finishes; `readings` keeps only those kinds'
    readings (keep_readings), trimmed in the simulating process."""
    jobs = [(seed, days, readings, kwargs) for seed in seeds]
    report = progress or (lambda done, total: None)
    if workers <= 1 or len(seeds) == 1:
        results = []
        for job in jobs:
            results.append(_simulate_one(job))
            report(len(results), len(jobs))
        return results
    done: dict[int, History] = {}
    # Spawned, not forked: the caller may be a threaded process (a Celery worker, a test run, daphne), and a
    # forked child inherits locks other threads held at the fork, which hung a pool here for good.
    with ProcessPoolExecutor(
        max_workers=min(workers, len(seeds)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=lower_priority,
        initargs=(nice,),
    ) as pool:
        futures = {pool.submit(_simulate_one, job): index for index, job in enumerate(jobs)}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            report(len(done), len(jobs))
    return [done[index] for index in range(len(jobs))]


def lower_priority(nice: int) -> None:
    """Run this process (a pool's worker) at a lower CPU priority, so a live twin's ticks go first."""
    if nice > 0:
        os.nice(nice)
