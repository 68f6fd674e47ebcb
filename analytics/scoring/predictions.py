"""Live scoring of a site: failure risk of every truck, loader and crusher, sensor anomalies, and the
recommendations that follow, from the latest window of history in PostgreSQL.

Runs from a beat task every minute; a site is refreshed when it has ticked REFRESH_EVERY_TICKS times since
its last refresh, so a paused site costs nothing and a busy one is scored about once a simulated minute.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd
from django.db import connection, transaction
from django.db.models import Max

from analytics.alerts import alarms
from analytics.ml.features import build_features, latest_rows
from analytics.recommendations import advice
from analytics.scoring import frames, registry, services
from analytics.scoring.models import Prediction
from fleet.models import Loader, Site, Truck
from plants.models import Crusher
from stockpiles.models import Stockpile

logger = logging.getLogger(__name__)

#: Ticks between refreshes of one site: 12 ticks of 5 s is one simulated minute, the readings' spacing.
REFRESH_EVERY_TICKS = 12
READING_WINDOW = dt.timedelta(hours=24)  # the longest feature window
EVENT_WINDOW = dt.timedelta(days=7)  # far enough back to know when most units were last repaired
ANOMALY_WINDOW = dt.timedelta(hours=4)  # 3 h of context for the trailing medians, then what is new
ANOMALY_REPORT = dt.timedelta(hours=1)  # anomalies that ended longer ago were reported before (or are old)
STALE_AFTER = dt.timedelta(hours=1)  # a unit whose newest reading is older than this is not scored
PREDICTION_RETENTION = dt.timedelta(days=30)  # simulated time; older predictions have served accuracy
UNIT_MODELS = {"truck": Truck, "loader": Loader, "crusher": Crusher, "stockpile": Stockpile}


@dataclass
class RefreshOutcome:
    site_id: int
    refreshed: bool
    reason: str = ""
    predictions: int = 0
    anomalies: int = 0
    recommendations: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)


def due(site: Site) -> bool:
    last = Prediction.objects.filter(site=site).aggregate(tick=Max("site_tick"))["tick"]
    return last is None or site.tick - last >= REFRESH_EVERY_TICKS


def refresh_site(
    site_id: int, *, force: bool = False, recent: frames.RecentMinutes | None = None
) -> RefreshOutcome:
    """Score the site's units, store predictions and anomalies, alert, recommend, resolve past outcomes.

    `recent` (the periodic task's frames.RECENT_MINUTES) keeps the minutes of readings read before, so a
    refresh reads only the new ones."""
    site = Site.objects.filter(pk=site_id).first()
    if site is None or site.sim_clock is None:
        return RefreshOutcome(site_id, False, "no history")
    if not force and not due(site):
        return RefreshOutcome(site_id, False, "refreshed recently")
    timings = {}
    started = time.perf_counter()
    end = site.sim_clock + dt.timedelta(microseconds=1)
    history = frames.site_history(
        site, start=end - READING_WINDOW, end=end, events_from=end - EVENT_WINDOW, labels=False, recent=recent
    )
    timings["read"] = time.perf_counter() - started
    scored = score_failures(history, end=end)
    timings["predict"] = time.perf_counter() - started - timings["read"]
    detections, anomaly_models = detect(history, end=end)
    timings["anomalies"] = time.perf_counter() - started - sum(timings.values())
    lookahead = advice.run_lookahead_if_due(site)  # seconds of simulation: not inside the transaction
    timings["lookahead"] = time.perf_counter() - started - sum(timings.values())
    with transaction.atomic():
        predictions = store_predictions(site, scored)
        risks = {(p.equipment_kind, p.equipment_id): p.failure_probability for p in predictions}
        alarms.evaluate_scores(site.pk, "ml_risk", risks, site.sim_clock)
        alarms.evaluate_scores(
            site.pk,
            "anomaly",
            anomaly_scores(history, detections, kinds=anomaly_models, end=end),
            site.sim_clock,
        )
        anomalies = services.record_anomalies(
            site=site, detections=_with_units(site, detections), models=anomaly_models
        )
        resolve_outcomes(site)
        raised = advice.refresh(site, predictions=predictions, history=history, lookahead=lookahead)
    timings["store"] = time.perf_counter() - started - sum(timings.values())
    timings["total"] = time.perf_counter() - started
    return RefreshOutcome(site_id, True, "", len(predictions), len(anomalies), raised, timings)


def score_failures(history, *, end: dt.datetime) -> list[dict]:
    """One row per unit in service with an active model: kind, id, ts, p_fail, rul_h, predicted_health,
    factors."""
    rows = []
    for kind, (version, model) in registry.active_models(list(registry.FAILURE_KINDS)).items():
        equipment = registry.FAILURE_KINDS[kind]
        readings = history.readings.get(equipment)
        if equipment != "loader" and (readings is None or readings.empty):
            continue
        features = build_features(
            None if equipment == "loader" else readings,
            history.events,
            equipment,
            every="10min" if equipment == "loader" else None,
            start=history.meta["start"],
            end=history.meta["end"],
            units=site_loaders(history.meta["site_id"]) if equipment == "loader" else None,
        )
        latest = latest_rows(features)
        latest = latest.loc[~latest["is_down"].astype(bool)]
        latest = latest.loc[latest["ts"] >= pd.Timestamp(end - STALE_AFTER)]
        if latest.empty:
            continue
        try:
            result = model.predict(latest)
        except ValueError:  # the model expects features this code no longer builds: retrain it
            logger.exception("model cannot score", extra={"model": version.label})
            continue
        for row in result.itertuples(index=False):
            rows.append(
                {
                    "version": version,
                    "equipment_kind": equipment,
                    "equipment_id": int(row.unit_id),
                    "ts": row.ts.to_pydatetime(),
                    "failure_probability": float(row.p_fail),
                    "rul_h": float(row.rul_h),
                    "predicted_health": float(row.predicted_health),
                    "warning": bool(row.warning),
                    "horizon_h": float(model.horizon_h),
                    "factors": [[name, float(lift)] for name, lift in row.top_factors],
                }
            )
    return rows


def site_loaders(site_id: int) -> pd.DataFrame:
    """The site's loaders as feature keys: loaders have no readings, and one that has loaded no
    truck yet is in no event, so the event log alone would leave it unscored (a site minutes old)."""
    ids = list(Loader.objects.filter(site_id=site_id).values_list("pk", flat=True))
    return pd.DataFrame({"site_id": pd.Series([site_id] * len(ids), dtype="int64"), "unit_kind": "loader",
                         "unit_id": pd.Series(ids, dtype="int64")})  # fmt: skip


def detect(history, *, end: dt.datetime) -> tuple[list[dict], dict]:
    """Anomalies of the last ANOMALY_WINDOW that reach into the last ANOMALY_REPORT, per active model."""
    found, versions = [], {}
    since, report_from = pd.Timestamp(end - ANOMALY_WINDOW), pd.Timestamp(end - ANOMALY_REPORT)
    for kind, (version, model) in registry.active_models(list(registry.ANOMALY_KINDS)).items():
        equipment = registry.ANOMALY_KINDS[kind]
        readings = history.readings.get(equipment)
        if readings is None or readings.empty:
            continue
        versions[equipment] = version
        events = model.detect(readings.loc[readings["ts"] >= since])
        for row in events.loc[events["end"] >= report_from].itertuples(index=False):
            found.append(
                {
                    "equipment_kind": equipment,
                    "equipment_id": int(row.unit_id),
                    "start": pd.Timestamp(row.start).to_pydatetime(),
                    "end": pd.Timestamp(row.end).to_pydatetime(),
                    "score": float(row.score),
                    "sensors": list(row.sensors),
                    "checks": list(row.checks),
                }
            )
    return found, versions


def anomaly_scores(
    history, detections: list[dict], *, kinds: Iterable[str], end: dt.datetime
) -> dict[tuple[str, int], float]:
    """Every unit of `kinds` (those an active anomaly model looked at) with readings in the report window: its
    highest detection score, 0 when nothing was found (so its alarm clears once the anomaly is over)."""
    report_from = pd.Timestamp(end - ANOMALY_REPORT)
    scores: dict[tuple[str, int], float] = {}
    for equipment in kinds:
        readings = history.readings.get(equipment)
        if readings is not None and len(readings):
            for unit_id in readings.loc[readings["ts"] >= report_from, "unit_id"].unique():
                scores[(equipment, int(unit_id))] = 0.0
    for found in detections:
        key = (found["equipment_kind"], found["equipment_id"])
        scores[key] = max(scores.get(key, 0.0), found["score"])
    return scores


def _units(site: Site, kind: str, ids: set[int]) -> dict[int, object]:
    return {unit.pk: unit for unit in UNIT_MODELS[kind].objects.filter(site=site, pk__in=ids)}


def _with_units(site: Site, detections: list[dict]) -> list[dict]:
    """Detections with their equipment instance (for the alert); units no longer on the site are dropped."""
    out = []
    for kind in {d["equipment_kind"] for d in detections}:
        units = _units(site, kind, {d["equipment_id"] for d in detections if d["equipment_kind"] == kind})
        out += [
            {**d, "equipment": units[d["equipment_id"]]}
            for d in detections
            if d["equipment_kind"] == kind and d["equipment_id"] in units
        ]
    return out


def store_predictions(site: Site, scored: list[dict]) -> list[Prediction]:
    names = {}
    for kind in {row["equipment_kind"] for row in scored}:
        ids = {row["equipment_id"] for row in scored if row["equipment_kind"] == kind}
        names[kind] = {unit.pk: str(unit) for unit in _units(site, kind, ids).values()}
    predictions = [
        Prediction(
            site=site,
            equipment_kind=row["equipment_kind"],
            equipment_id=row["equipment_id"],
            equipment_name=names[row["equipment_kind"]][row["equipment_id"]],
            model=row["version"],
            ts=row["ts"],
            site_tick=site.tick,
            failure_probability=row["failure_probability"],
            rul_h=row["rul_h"],
            predicted_health=row["predicted_health"],
            warning=row["warning"],
            horizon_h=row["horizon_h"],
            factors=row["factors"],
        )
        for row in scored
        if row["equipment_id"] in names[row["equipment_kind"]]
    ]
    return Prediction.objects.bulk_create(predictions)


def resolve_outcomes(site: Site) -> int:
    """Record, for predictions whose horizon has passed in simulated time, whether the unit broke down in it;
    and drop predictions past retention. One UPDATE over the open-predictions index."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE analytics_prediction p SET failed = EXISTS (
                SELECT 1 FROM fleet_simevent e
                WHERE e.site_id = p.site_id AND e.kind = 'breakdown' AND e.unit_kind = p.equipment_kind
                  AND e.unit_id = p.equipment_id AND e.ts > p.ts
                  AND e.ts <= p.ts + p.horizon_h * interval '1 hour')
            WHERE p.site_id = %s AND p.failed IS NULL AND p.ts + p.horizon_h * interval '1 hour' <= %s
            """,
            [site.pk, site.sim_clock],
        )
        resolved = cursor.rowcount
        cursor.execute(
            "DELETE FROM analytics_prediction WHERE site_id = %s AND ts < %s",
            [site.pk, site.sim_clock - PREDICTION_RETENTION],
        )
    return resolved
