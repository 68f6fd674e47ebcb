"""What a sensor's own readings say about it: its cadence (the gateway's reporting interval), its
resolution (the quantum of its values), how long its values normally hold, and trailing windows sized to its
cadence.

Real gateways report at any interval from a second to 15 minutes, and real sensors are quantised and repeat
exact values; the anomaly checks (analytics.ml.anomaly) learn these per sensor at fit time, so one model works
at any cadence and does not take a quantised sensor's repeats for a stuck one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: Trailing windows: (duration at a 1-min cadence, readings it must hold). At a slower cadence a window
#: stretches to WINDOW_SPAN x its readings, so 3-min and 15-min gateways fill it as a 1-min one does.
WINDOWS: dict[str, tuple[pd.Timedelta, int]] = {
    "short": (pd.Timedelta(minutes=30), 5),
    "long": (pd.Timedelta(hours=3), 30),
    "noise": (pd.Timedelta(minutes=10), 5),
    "spread": (pd.Timedelta(minutes=30), 10),
}
WINDOW_SPAN = 2
DEFAULT_CADENCE_S = 60.0  # models fitted before cadences were learned saw one reading a minute
STUCK_MIN_READINGS = 3
#: A held value is stuck past max(STUCK_RUN_FACTOR x the longest normal run, the run that chance repeats of
#: its quantised values reach with probability STUCK_CHANCE).
STUCK_RUN_FACTOR = 2.0
STUCK_CHANCE = 1e-7


def stuck_runs(values: pd.Series, groups: pd.Series, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length of the run of exactly equal values ending at each row, and the row where the run began."""
    same = (values == values.groupby(groups, sort=False).shift()).to_numpy() & allowed
    run_id = np.cumsum(~same)
    run_len = pd.Series(1, index=values.index).groupby(run_id).cumsum().to_numpy()
    run_start = pd.Series(np.arange(len(values))).groupby(run_id).transform("min").to_numpy()
    return run_len, run_start


def learn_cadence_s(ts: pd.Series, groups: np.ndarray) -> float:
    """Median interval (s) between a unit's consecutive readings: the gateway's reporting interval."""
    step = ts.groupby(groups, sort=False).diff().dt.total_seconds().to_numpy()
    step = step[np.isfinite(step) & (step > 0)]
    return float(np.median(step)) if len(step) else DEFAULT_CADENCE_S


def learn_resolution(values: np.ndarray) -> float:
    """Smallest step between distinct values: the sensor's quantum (close to 0 for a continuous one)."""
    distinct = np.unique(values[np.isfinite(values)])
    if len(distinct) < 2:
        return 0.0
    steps = np.diff(distinct)
    steps = steps[steps > 1e-9 * max(float(np.abs(distinct).max()), 1.0)]  # float noise of 0.1 * k
    return float(steps.min()) if len(steps) else 0.0


def stuck_limit(longest_run: float, repeat_share: float) -> float:
    """Readings a value must be held to be stuck: far past the sensor's longest normal run, and past what
    chance repeats of its quantised values reach (a run of L has probability repeat_share ** (L - 1)).
    A sensor whose every reading repeated the one before is never called stuck (inf): nothing tells a held
    value from its normal behaviour."""
    if repeat_share >= 1.0:
        return math.inf
    chance = 1.0 + math.log(STUCK_CHANCE) / math.log(repeat_share) if repeat_share > 0.0 else 1.0
    return float(
        max(STUCK_MIN_READINGS, math.ceil(STUCK_RUN_FACTOR * max(longest_run, 1.0)), math.ceil(chance))
    )


def window(name: str, cadence_s: float) -> pd.Timedelta:
    """A trailing window's duration at a sensor's cadence: its 1-min duration, or longer so it holds
    WINDOW_SPAN x the readings it needs."""
    base, readings = WINDOWS[name]
    return max(base, pd.Timedelta(seconds=WINDOW_SPAN * readings * cadence_s))
