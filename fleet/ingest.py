"""Readings that come from outside the simulator: telemetry batches from gateways and reading CSV files.

Both validate every item (vectorised), write through the one ingestion path (fleet.readings, binary COPY)
and never half-write: a telemetry batch stores its good items and reports the bad ones; a CSV import is all
or nothing.
"""

from __future__ import annotations

import datetime as dt
import queue
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
from django.db import connection, models, transaction
from django.utils import timezone

from fleet import csvformat, histories, hooks, locks, readings, telemetry, units
from fleet.models import Site
from fleet.sim.schema import SENSORS

# --- Telemetry from real equipment (POST /api/telemetry)


@dataclass
class TelemetryReport:
    """What happened to a batch: items not listed in `rejected` were accepted (stored or already stored)."""

    received: int
    accepted: int = 0
    inserted: int = 0
    duplicates: int = 0
    marked_live: int = 0
    rejected: list[dict] = field(default_factory=list)
    #: The newest time among the accepted readings (None: none accepted).
    newest: dt.datetime | None = None


@transaction.atomic
def ingest_telemetry(*, items: list, now: dt.datetime | None = None) -> TelemetryReport:
    """Validate a gateway's batch item by item (vectorised), store the good readings through the one ingestion
    path and mark the equipment that sent them live, so the simulator stops moving it.

    Idempotent on (equipment, ts): a re-sent reading is accepted and counted as a duplicate. Bad items are
    rejected with reasons per field; they never stop the good ones.
    """
    window = readings.kept_window(now or timezone.now())
    report = TelemetryReport(received=len(items))
    by_kind: dict[str, list[int]] = {}
    for position, item in enumerate(items):
        kind = item.get("kind") if isinstance(item, dict) else None
        if not isinstance(item, dict):
            report.rejected.append({"index": position, "errors": {"non_field_errors": ["must be an object"]}})
        elif not isinstance(kind, str) or kind not in SENSORS:  # {} or [] are not hashable
            reason = "missing" if kind is None else f"{kind!r} is not one of {', '.join(SENSORS)}"
            report.rejected.append({"index": position, "errors": {"kind": [reason]}})
        else:
            by_kind.setdefault(kind, []).append(position)
    checked: list[telemetry.Checked] = []
    for kind in sorted(by_kind, key=list(SENSORS).index):  # kinds in one order, as the tick writes them
        positions = by_kind[kind]
        kind_items = [items[position] for position in positions]
        wanted = [item.get("equipment_id") for item in kind_items]  # any JSON value, {} included
        known = _known(kind, wanted)
        checked.append(telemetry.check(kind, kind_items, np.asarray(positions), known, window))
    return _store_checked(report, checked, window)


@transaction.atomic
def ingest_telemetry_columns(
    *, frames: dict[str, tuple[pd.DataFrame, np.ndarray]], now: dt.datetime | None = None
) -> TelemetryReport:
    """`ingest_telemetry` of readings already in columns, per kind: (frame of raw values with equipment_id,
    ts, status and the sensors; each row's position in the batch). The same checks, store and hooks; for
    MQTT batches, whose thousands of readings would otherwise each become a dict."""
    window = readings.kept_window(now or timezone.now())
    report = TelemetryReport(received=sum(len(frame) for frame, _ in frames.values()))
    checked: list[telemetry.Checked] = []
    for kind in sorted(frames, key=list(SENSORS).index):
        frame, positions = frames[kind]
        known = _known(kind, frame["equipment_id"].to_numpy())
        checked.append(telemetry.check_frame(kind, frame, positions, known, window))
    return _store_checked(report, checked, window)


def _known(kind: str, wanted: list | np.ndarray) -> dict:
    if isinstance(wanted, np.ndarray) and wanted.dtype.kind in "iu":  # ids from the topics (MQTT)
        ids = np.unique(wanted).tolist()
    else:
        ids = list(
            dict.fromkeys(value for value in wanted if isinstance(value, int) and not isinstance(value, bool))
        )
    return _known_equipment(histories.history(kind).equipment, ids, units.get(kind).limit_column)


def _store_checked(report: TelemetryReport, checked: list[telemetry.Checked], window) -> TelemetryReport:
    """The accepted readings of each kind through the one ingestion path, equipment marked live, the hooks
    run; the refused items listed in the report by batch position."""
    accepted: dict[str, tuple[pd.DataFrame, list[int]]] = {}
    for one in checked:
        report.rejected += [{"index": index, "errors": errors} for index, errors in one.errors.items()]
        if len(one.readings):
            live_ids = np.unique(one.readings["equipment_id"].to_numpy()).tolist()
            accepted[one.kind] = (one.readings, live_ids)
    # The lock order (fleet.locks): the batch's sites before its equipment, so a tick of those sites runs
    # wholly before or wholly after this batch's state, ledger and alarms, never interleaved with them.
    # The readings go first, before the sites: the history is insert-only and invisible until the commit,
    # so ingest processes of one site copy side by side and wait for each other only for the rest. Not when
    # a day's partition must be created: that takes the whole table, which a tick holding the site may be
    # writing, so the sites come first then, as for the tick itself.
    sites_of = {histories.history(kind).equipment: ids for kind, (_, ids) in accepted.items()}
    copy_first = all(readings.partitions_ready(kind, rows["ts"]) for kind, (rows, _) in accepted.items())
    if not copy_first:
        locks.lock_sites_of(sites_of)
    for kind, (checked_readings, _) in accepted.items():
        result = readings.ingest_readings(kind, checked_readings, update_state=False, window=window)
        report.inserted += result.inserted
        report.duplicates += result.duplicates
        report.accepted += len(checked_readings)
    if copy_first:
        locks.lock_sites_of(sites_of)
    for kind, (checked_readings, live_ids) in accepted.items():
        readings.update_equipment_state(kind, _newest(None, checked_readings))
        report.marked_live += _mark_live(histories.history(kind).equipment, live_ids)
        hooks.after_telemetry(kind, checked_readings)  # alarm rules (analytics): fleet.hooks
        newest = checked_readings["ts"].max().to_pydatetime()
        report.newest = newest if report.newest is None else max(report.newest, newest)
    report.rejected.sort(key=lambda item: item["index"])
    return report


def _known_equipment(model: type[models.Model], ids: list[int], limit_column: str | None) -> dict:
    """id -> limit (fuel tank, capacity, or None) of the equipment among `ids` that exists.

    One array parameter (`= ANY(%s)`) rather than IN with a placeholder per id: a 5,000-id IN list costs
    more to build and parse than the query costs to run.
    """
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id, {limit_column or "NULL"} FROM "{table}" WHERE id = ANY(%s)', [ids])
        return dict(cursor.fetchall())


def _mark_live(model: type[models.Model], ids: list[int]) -> int:
    """Mark equipment fed by telemetry; fleet.ticking reads the flag and the simulator leaves it alone."""
    with connection.cursor() as cursor:
        table = model._meta.db_table
        locks.lock_units(cursor, table, ids)  # ascending (np.unique)
        cursor.execute(f'UPDATE "{table}" SET live = true WHERE id = ANY(%s) AND NOT live', [ids])
        return cursor.rowcount


# --- Importing reading CSV files (management command import_readings)


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    created_equipment: list[str] = field(default_factory=list)
    dry_run: bool = False


class ImportFailed(Exception):
    """The file was refused and nothing was written; the message says what and where."""


def _equipment_lookup(kind: str, *, create_missing: bool, created: list[str]) -> csvformat.Lookup:
    unit_kind = units.get(kind)
    limit_field = unit_kind.limit_column
    known: dict[tuple[str, str], tuple[int, float | None]] = {}
    for pk, slug, name, limit in unit_kind.model.objects.values_list(
        "pk", "site__slug", "name", limit_field or "pk"
    ):
        known[(slug, name)] = (pk, limit if limit_field else None)
    sites = dict(Site.objects.values_list("slug", "pk"))

    def lookup(site: str, name: str) -> tuple[int, float | None] | None:
        if (site, name) in known or not create_missing or site not in sites:
            return known.get((site, name))
        unit = unit_kind.model.objects.create(site_id=sites[site], name=name, **unit_kind.placeholder)
        created.append(f"{site}/{name}")
        known[(site, name)] = (unit.pk, getattr(unit, limit_field) if limit_field else None)
        return known[(site, name)]

    return lookup


def import_readings_csv(
    *,
    path: str | Path,
    kind: str = "auto",
    create_missing: bool = False,
    dry_run: bool = False,
    chunk_rows: int = 100_000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a reading CSV (optionally gzip) all or nothing, in one transaction.

    Every row is validated (columns, types, ranges, time zones, known equipment); on any bad row nothing is
    written and ImportFailed lists the first bad rows by line and column. Readings already stored are
    skipped and counted as duplicates. A dry run does everything, then rolls back.
    """
    try:
        with csvformat.open_readings(path, progress) as (header, rows), transaction.atomic():
            report = _import_rows(header, rows, kind, create_missing, chunk_rows)
            report.dry_run = dry_run
            if dry_run:
                transaction.set_rollback(True)
            return report
    except csvformat.CsvFormatError as error:
        raise ImportFailed(f"{path}: {error}") from None


def _import_rows(
    header: list[str], rows: TextIO, kind: str, create_missing: bool, chunk_rows: int
) -> ImportReport:
    detected = csvformat.detect_kind(header)
    if kind == "auto":
        if detected is None:
            raise csvformat.CsvFormatError(
                f"the header matches no equipment kind ({', '.join(SENSORS)}): {','.join(header)}"
            )
        kind = detected
    expected = csvformat.columns(kind)
    if set(header) != set(expected) or len(header) != len(expected):
        missing = [name for name in expected if name not in header]
        extra = [name for name in header if name not in expected or header.count(name) > 1]
        raise csvformat.CsvFormatError(
            f"columns do not match {kind} readings: missing {', '.join(missing) or 'none'}; "
            f"unexpected {', '.join(extra) or 'none'}"
        )
    report = ImportReport(kind=kind)
    lookup = _equipment_lookup(kind, create_missing=create_missing, created=report.created_equipment)
    bad_rows, problems = 0, []
    newest: pd.DataFrame | None = None
    line = 2
    window = readings.kept_window()
    try:
        with warnings.catch_warnings():
            # pandas only warns (and drops the extra values) when the first row is too long; later rows raise.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            chunks = pd.read_csv(
                rows, header=None, names=header, chunksize=chunk_rows, **csvformat.read_options(kind)
            )
            for chunk in _parsed_ahead(chunks):
                checked = csvformat.validate_chunk(
                    chunk, kind=kind, first_line=line, lookup=lookup, window=window
                )
                line += len(chunk)
                report.rows += len(chunk)
                if checked.bad_rows:
                    bad_rows += checked.bad_rows
                    problems += checked.problems[: csvformat.MAX_REPORTED - len(problems)]
                elif not bad_rows:  # after the first bad row keep validating (to count), but stop writing
                    result = readings.ingest_readings(
                        kind, checked.readings, update_state=False, window=window
                    )
                    report.inserted += result.inserted
                    report.duplicates += result.duplicates
                    newest = _newest(newest, checked.readings)
    except pd.errors.ParserWarning:
        raise csvformat.CsvFormatError(f"line {line} has more than {len(header)} fields") from None
    except pd.errors.ParserError as error:
        raise csvformat.CsvFormatError(_parser_message(error, first_line=2)) from None
    except pd.errors.EmptyDataError:
        raise csvformat.CsvFormatError("no readings after the header") from None
    if bad_rows:
        listed = "; ".join(str(problem) for problem in problems)
        raise csvformat.CsvFormatError(f"{bad_rows} bad row(s), nothing imported: {listed}")
    if not report.rows:
        raise csvformat.CsvFormatError("no readings after the header")
    if newest is not None:
        # Equipment state last, once, after the sites (the lock order, fleet.locks): ticks of those sites
        # wait only for this update and the commit, not for the whole file.
        locks.lock_sites_of({units.get(kind).model: newest["equipment_id"].tolist()})
        readings.update_equipment_state(kind, newest)
    return report


def _newest(previous: pd.DataFrame | None, chunk: pd.DataFrame) -> pd.DataFrame:
    """Each equipment's newest reading so far, as updating the state chunk by chunk would leave it: in a
    chunk the last of equal times wins, across chunks the earlier one (the state takes only newer times)."""
    chunk = chunk.reset_index(drop=True)
    last_first = chunk.iloc[::-1]
    chunk = chunk.loc[last_first.groupby("equipment_id")["ts"].idxmax().to_numpy()]
    if previous is None:
        return chunk.reset_index(drop=True)
    both = pd.concat([previous, chunk], ignore_index=True)
    return both.loc[both.groupby("equipment_id")["ts"].idxmax().to_numpy()].reset_index(drop=True)


def _parsed_ahead(chunks: Iterator[pd.DataFrame], depth: int = 2) -> Iterator[pd.DataFrame]:
    """Parse the next chunks in a thread while the database digests the current one.

    pandas' C parser and psycopg's wait for the server both release the GIL, so on two cores parsing and
    COPY overlap. Only parsing runs in the thread; validation and every database call stay in the caller's
    thread (and its transaction). Parser errors are raised in the caller's thread.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put(("chunk", chunk)):
                    return
            put(("end", None))
        except BaseException as error:  # handed to the caller's thread, which raises it
            put(("error", error))

    worker = threading.Thread(target=produce, name="import-readings-parser", daemon=True)
    worker.start()
    try:
        while True:
            what, value = ready.get()
            if what == "end":
                return
            if what == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join(timeout=10)


def _parser_message(error: Exception, *, first_line: int) -> str:
    """pandas counts lines from the first data row; say which line of the file it is."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
    if found:
        expected, line, saw = (int(value) for value in found.groups())
        return f"line {line + first_line - 1} has {saw} fields, expected {expected}"
    return f"not a CSV file of readings ({str(error).strip().splitlines()[-1]})"
