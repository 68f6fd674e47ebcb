"""The alarm rule engine: conditions, deadband, on/off delays and the alarm state machine, on plain data.

Pure Python (no Django): the tick hands it one observation per unit and step, it answers with the
transitions to persist (raise, update, clear). Everything between transitions (hysteresis flags, delay
timers, last values) stays in memory here, so a step with no change costs no database write. The vocabulary
is ISA-18.2 / IEC 62682 (docs/alarms.md): a rule's condition with a deadband gives the *alarm condition*;
the on-delay keeps a condition that does not last from being *annunciated*; the off-delay keeps a condition
that flickers around its limit from *chattering*.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fleet import liveness

RULE_KINDS = (
    "equipment_state",
    "sensor_threshold",
    "stockpile_level",
    "queue",
    "silence",
    "ml_risk",
    "anomaly",
)
UNIT_KINDS = ("truck", "loader", "crusher", "stockpile")
COMPARISONS = (">=", "<=", "in")
#: An active alarm's value is persisted again (an *update*) when it moved by more than the deadband, but
#: not more often than this: one write a minute per standing alarm, not one per tick.
UPDATE_EVERY_S = 60.0
#: Field names the engine derives itself rather than reading from a reading row.
QUEUE_FIELD = "queue_length"
SILENCE_FIELD = "silence_s"
#: A live unit's telemetry state (fleet.liveness: live or stale), for rules `in` the state `stale`.
TELEMETRY_FIELD = "telemetry"
#: Fields measured from a live unit's newest reading rather than read from a reading row.
SILENCE_FIELDS = (SILENCE_FIELD, TELEMETRY_FIELD)

Key = tuple[int, str, int]  # (rule id, unit kind, unit id)
Observations = Mapping[str, Mapping[int, Mapping[str, Any]]]  # unit kind -> unit id -> field -> value


class RuleError(ValueError):
    """A rule that cannot be evaluated; the message names the rule and the field at fault."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One alarm rule as the engine needs it (analytics.alerts.models.AlarmRule.as_engine_rule())."""

    id: int
    code: str
    kind: str
    unit_kind: str
    field: str
    comparison: str
    limit: float | None = None
    states: frozenset[str] = frozenset()
    deadband: float = 0.0
    on_delay_s: float = 0.0
    off_delay_s: float = 0.0
    severity: str = "warning"
    title: str = ""

    def __post_init__(self) -> None:
        where = f"alarm rule {self.code or self.id!r}"
        if self.kind not in RULE_KINDS:
            raise RuleError(f"{where}: kind {self.kind!r} is not one of {', '.join(RULE_KINDS)}")
        if self.unit_kind not in UNIT_KINDS:
            raise RuleError(f"{where}: unit kind {self.unit_kind!r} is not one of {', '.join(UNIT_KINDS)}")
        if self.comparison not in COMPARISONS:
            raise RuleError(f"{where}: comparison {self.comparison!r} is not one of {', '.join(COMPARISONS)}")
        if not self.field:
            raise RuleError(
                f"{where}: field is empty (a sensor, 'status', {QUEUE_FIELD!r}, {SILENCE_FIELD!r} or "
                f"{TELEMETRY_FIELD!r})"
            )
        if self.comparison == "in":
            if not self.states:
                raise RuleError(f"{where}: comparison 'in' needs at least one state")
        elif self.limit is None or not math.isfinite(self.limit):
            raise RuleError(
                f"{where}: comparison {self.comparison!r} needs a finite limit, got {self.limit!r}"
            )
        for name in ("deadband", "on_delay_s", "off_delay_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise RuleError(f"{where}: {name} must be a finite number >= 0, got {value!r}")

    def enters(self, value: Any) -> bool:
        """The raw condition: the value is beyond the limit (or in one of the states)."""
        if self.comparison == "in":
            return str(value) in self.states
        if self.comparison == ">=":
            return value >= self.limit
        return value <= self.limit

    def stays(self, value: Any) -> bool:
        """Once in alarm, the condition holds until the value is back past the limit by the deadband."""
        if self.comparison == "in":
            return str(value) in self.states
        if self.comparison == ">=":
            return value >= self.limit - self.deadband
        return value <= self.limit + self.deadband


@dataclass(slots=True)
class AlarmPoint:
    """The engine's memory of one rule on one unit."""

    condition: bool = False  # the deadband-filtered condition
    since_s: float = 0.0  # when `condition` last changed
    active: bool = False  # raised (annunciated or shelved) and not yet cleared
    value: Any = None
    reported_value: Any = None
    reported_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Transition:
    """What to persist: `raise` opens an alarm, `update` refreshes its value, `clear` returns it to normal."""

    action: str
    rule: Rule
    unit_kind: str
    unit_id: int
    clock_s: float
    value: Any

    @property
    def key(self) -> Key:
        return (self.rule.id, self.unit_kind, self.unit_id)


@dataclass
class AlarmEngine:
    """The state machine of every rule on every unit of one site."""

    rules: list[Rule]
    points: dict[Key, AlarmPoint] = field(default_factory=dict)
    last_seen_s: dict[tuple[str, int], float] = field(default_factory=dict)  # live units' last reading
    #: When a live unit's silence makes it stale (TELEMETRY_STALE_AFTER_S), for rules on TELEMETRY_FIELD.
    stale_after_s: float = 120.0
    by_kind: dict[str, list[Rule]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_kind = {}
        for rule in self.rules:
            if rule.kind not in ("ml_risk", "anomaly"):  # scored elsewhere: see evaluate_scores
                self.by_kind.setdefault(rule.unit_kind, []).append(rule)

    def restore_active(self, keys: Iterable[Key], clock_s: float) -> None:
        """Alarms the database holds open (a new worker process, a rolled-back tick): active, condition on."""
        for key in keys:
            self.points[key] = AlarmPoint(condition=True, since_s=clock_s, active=True, reported_s=clock_s)

    def note_seen(self, unit_kind: str, unit_id: int, ts_s: float) -> None:
        """A live unit's telemetry arrived (silence rules count from its newest reading)."""
        key = (unit_kind, unit_id)
        if ts_s > self.last_seen_s.get(key, -math.inf):
            self.last_seen_s[key] = ts_s

    def evaluate(
        self, clock_s: float, observations: Observations, live: Mapping[str, Iterable[int]] | None = None
    ) -> list[Transition]:
        """One evaluation at `clock_s`: units absent from `observations` keep their state as it was.

        `live` lists every unit fed by telemetry: their silence is the time since their newest reading, and a
        unit no longer listed was handed back to the simulator, which ends its silence. Without `live` (a
        telemetry batch) silence rules are not evaluated.
        """
        transitions: list[Transition] = []
        for unit_kind, rules in self.by_kind.items():
            rows = observations.get(unit_kind, {})
            live_ids = set((live or {}).get(unit_kind, ()))
            for rule in rules:
                if rule.field in SILENCE_FIELDS:
                    if live is not None:
                        self._silence(rule, unit_kind, live_ids, clock_s, transitions)
                    continue
                name = rule.field
                for unit_id, row in rows.items():
                    value = row.get(name)
                    if value is not None:
                        self._step(rule, unit_kind, unit_id, clock_s, value, transitions)
        return transitions

    def evaluate_scores(
        self, clock_s: float, kind: str, scores: Mapping[tuple[str, int], float]
    ) -> list[Transition]:
        """ML results (kind ml_risk or anomaly): one score per (unit kind, unit id) just scored."""
        transitions: list[Transition] = []
        for rule in self.rules:
            if rule.kind != kind:
                continue
            for (unit_kind, unit_id), score in scores.items():
                if unit_kind == rule.unit_kind:
                    self._step(rule, unit_kind, unit_id, clock_s, score, transitions)
        return transitions

    def _silence(
        self, rule: Rule, unit_kind: str, live_ids: set[int], clock_s: float, out: list[Transition]
    ) -> None:
        for unit_id in live_ids:
            seen = self.last_seen_s.setdefault((unit_kind, unit_id), clock_s)
            self._step(rule, unit_kind, unit_id, clock_s, self._silence_value(rule, seen, clock_s), out)
        handed_back = [key for key in self.points if key[0] == rule.id and key[2] not in live_ids]
        for key in handed_back:
            point = self.points.pop(key)
            if point.active:  # nobody expects telemetry from a simulated unit: the alarm has no condition
                out.append(Transition("clear", rule, unit_kind, key[2], clock_s, point.value))
        for key in [key for key in self.last_seen_s if key[0] == unit_kind and key[1] not in live_ids]:
            del self.last_seen_s[key]  # live again later: silent from then, not from before the hand-back

    def _silence_value(self, rule: Rule, seen_s: float, clock_s: float) -> Any:
        """Seconds since the newest reading, or the telemetry state that silence gives (fleet.liveness)."""
        if rule.field == SILENCE_FIELD:
            return clock_s - seen_s
        return str(
            liveness.telemetry_state(
                live=True,
                last_reading_at=dt.datetime.fromtimestamp(seen_s, dt.UTC),
                now=dt.datetime.fromtimestamp(clock_s, dt.UTC),
                stale_after_s=self.stale_after_s,
            )
        )

    def _step(self, rule: Rule, unit_kind: str, unit_id: int, clock_s: float, value: Any, out: list) -> None:
        key = (rule.id, unit_kind, unit_id)
        point = self.points.get(key)
        if point is None:
            if not rule.enters(value):
                return  # the common case: nothing to remember about a unit in normal
            point = self.points[key] = AlarmPoint(since_s=clock_s)
        condition = rule.stays(value) if point.condition else rule.enters(value)
        if condition != point.condition:
            point.condition, point.since_s = condition, clock_s
        point.value = value
        held_s = clock_s - point.since_s
        if condition and not point.active and held_s >= rule.on_delay_s:
            point.active, point.reported_value, point.reported_s = True, value, clock_s
            out.append(Transition("raise", rule, unit_kind, unit_id, clock_s, value))
        elif not condition and point.active and held_s >= rule.off_delay_s:
            out.append(Transition("clear", rule, unit_kind, unit_id, clock_s, value))
            del self.points[key]
        elif not condition and not point.active:
            del self.points[key]  # a condition that did not outlast the on-delay: never annunciated
        elif point.active and condition and self._moved(rule, point, value, clock_s):
            point.reported_value, point.reported_s = value, clock_s
            out.append(Transition("update", rule, unit_kind, unit_id, clock_s, value))

    @staticmethod
    def _moved(rule: Rule, point: AlarmPoint, value: Any, clock_s: float) -> bool:
        if clock_s - point.reported_s < UPDATE_EVERY_S:
            return False
        if point.reported_value is None:  # restored from the database: what was reported is not known here
            return True
        if rule.comparison == "in" or not isinstance(value, int | float):
            return value != point.reported_value
        return abs(value - point.reported_value) > max(rule.deadband, 1e-9)

    def active_keys(self) -> set[Key]:
        return {key for key, point in self.points.items() if point.active}


def capture(state: Any) -> dict[str, dict[int, dict[str, Any]]]:
    """What a step's readings do not carry, taken from the engine state right after the step: loader
    status, queue lengths at loaders and crushers, and which units are live (fed by telemetry)."""
    loaders = {
        loader.id: {"status": str(loader.status), QUEUE_FIELD: len(loader.queue)}
        for loader in state.loaders
        if not loader.live
    }
    crushers = {
        crusher.id: {QUEUE_FIELD: len(crusher.queue)} for crusher in state.crushers if not crusher.live
    }
    live = {
        kind: [unit.id for unit in getattr(state, plural) if unit.live]
        for kind, plural in (("truck", "trucks"), ("crusher", "crushers"), ("stockpile", "stockpiles"))
    }
    return {"loader": loaders, "crusher": crushers, "live": live}


def observations(
    readings: Mapping[str, list[dict[str, Any]]], captured: Mapping[str, Any], fuel_tanks: Mapping[int, float]
) -> tuple[dict[str, dict[int, dict[str, Any]]], dict[str, list[int]]]:
    """One step's observations per unit kind (reading rows, plus fuel_pct and the captured extras), and the
    live units."""
    observed: dict[str, dict[int, dict[str, Any]]] = {}
    for kind, rows in readings.items():
        observed[kind] = {row["id"]: row for row in rows}
    add_fuel_pct(observed.get("truck", {}), fuel_tanks)
    for row_id, extra in captured.get("crusher", {}).items():
        if row_id in observed.get("crusher", {}):
            observed["crusher"][row_id][QUEUE_FIELD] = extra[QUEUE_FIELD]
    observed["loader"] = dict(captured.get("loader", {}))
    return observed, dict(captured.get("live", {}))


def add_fuel_pct(rows: Mapping[int, dict[str, Any]], fuel_tanks: Mapping[int, float]) -> None:
    """Each truck row's fuel as a share of its own tank (`fuel_pct`), in place: the fuel rule's limit is a
    share because tanks differ between truck models. Rows without a tank size or a fuel reading get none."""
    for row_id, row in rows.items():
        tank, fuel_l = fuel_tanks.get(row_id), row.get("fuel_l")
        if tank and isinstance(fuel_l, int | float) and math.isfinite(fuel_l):
            row["fuel_pct"] = 100.0 * fuel_l / tank
