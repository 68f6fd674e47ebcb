"""The model-free advice rules on the engine's plain state: service due by wear, starving loaders, backed-up
crushers, stockpiles near their thresholds. No database."""

import math

import pytest

from analytics.recommendations import rules
from fleet.sim.layout import default_site
from fleet.sim.schema import CrusherStatus, LoaderStatus


def fresh_site(seed: int = 7):
    return default_site(seed=seed, trucks=15, crushers=3, stockpiles=4)


def test_weibull_risk_rises_with_wear_and_matches_the_closed_form():
    new, worn = rules.weibull_risk(0.0, 2.0, 70.0), rules.weibull_risk(49.0, 2.0, 70.0)
    assert new == pytest.approx(1 - math.exp(-((24 / 70) ** 2)))
    assert worn == pytest.approx(1 - math.exp(-((73 / 70) ** 2 - (49 / 70) ** 2)))
    assert new < 0.15 < 0.4 < worn


@pytest.mark.parametrize(("args", "message"), [((1.0, 0.0, 70.0), "shape"), ((-1.0, 2.0, 70.0), "wear_h")])
def test_weibull_risk_refuses_bad_parameters_naming_them(args, message):
    with pytest.raises(ValueError, match=message):
        rules.weibull_risk(*args)


def test_a_freshly_seeded_site_has_a_few_units_due_for_service_riskiest_first():
    state = fresh_site()
    units = len(state.trucks) + len(state.loaders) + len(state.crushers)
    due = rules.services_due(state)
    assert 1 <= len(due) <= units // 3
    assert [d.p_fail for d in due] == sorted((d.p_fail for d in due), reverse=True)
    assert all(d.wear_h >= d.interval_h for d in due)
    worn_out = max(state.trucks, key=lambda t: t.wear_h)
    worn_out.wear_h = 10 * state.config.truck_weibull_scale_h
    assert rules.services_due(state)[0].unit_id == worn_out.id


def test_no_unit_is_due_when_all_were_just_serviced_and_a_unit_in_the_workshop_is_left_alone():
    state = fresh_site()
    for unit in [*state.trucks, *state.loaders, *state.crushers]:
        unit.wear_h = 0.0
    assert rules.services_due(state) == []
    state.trucks[0].wear_h = 500.0
    state.trucks[0].status = "maintenance"
    assert rules.services_due(state) == []


def test_a_loader_with_no_truck_for_three_minutes_is_starving_one_still_loading_is_not():
    state = fresh_site()
    idle, busy = state.loaders[0], state.loaders[1]
    for loader in state.loaders:
        loader.status, loader.queue, loader.loading_truck_id = LoaderStatus.IDLE, [], None
    busy.status, busy.loading_truck_id = LoaderStatus.LOADING, state.trucks[0].id
    now = state.clock_s
    recent = {loader.id: now - 60 for loader in state.loaders}
    recent[idle.id] = now - 200

    found = rules.starving_loaders(state, recent, since_s=now - 3600)

    assert [(loader.id, round(idle_s)) for loader, idle_s in found] == [(idle.id, 200)]
    assert rules.starving_loaders(state, {}, since_s=now - 60) == []  # not watched long enough to tell


def test_a_crusher_blocked_or_with_four_trucks_queuing_is_backing_up():
    state = fresh_site()
    for crusher in state.crushers:
        crusher.status, crusher.queue = CrusherStatus.RUNNING, []
    state.crushers[0].status = CrusherStatus.BLOCKED
    state.crushers[1].queue = [t.id for t in state.trucks[:4]]
    state.crushers[2].queue = [t.id for t in state.trucks[:3]]
    assert [c.id for c in rules.backed_up_crushers(state)] == [state.crushers[0].id, state.crushers[1].id]


def test_stockpiles_near_their_high_or_low_threshold_are_found_with_their_side():
    state = fresh_site()
    high, low, middle, *_ = state.stockpiles
    high.level_t, low.level_t, middle.level_t = (
        0.92 * high.capacity_t,
        0.05 * low.capacity_t,
        0.5 * middle.capacity_t,
    )
    for pile in state.stockpiles[3:]:
        pile.level_t = 0.5 * pile.capacity_t
    found = {pile.id: (round(pct), side) for pile, pct, side in rules.stockpiles_near_limits(state)}
    assert found == {high.id: (92, "high"), low.id: (5, "low")}


def test_a_stockpile_without_capacity_is_a_clear_error_naming_it():
    state = fresh_site()
    state.stockpiles[0].capacity_t = 0.0
    with pytest.raises(ValueError, match=f"stockpile '{state.stockpiles[0].name}': capacity_t"):
        rules.stockpiles_near_limits(state)


def test_the_record_of_a_site_younger_than_the_window_read_starts_at_its_first_reading():
    """Read over the last day, a site started 10 minutes ago has had a loader idle for 10 minutes at most."""
    import pandas as pd

    from analytics.ml.history import History
    from analytics.recommendations.advice import record_start_s

    now = pd.Timestamp("2026-12-04 08:00", tz="UTC")
    first = now - pd.Timedelta(minutes=10)
    readings = {
        "truck": pd.DataFrame({"ts": [first, now]}),
        "crusher": pd.DataFrame({"ts": [first + pd.Timedelta(minutes=4), now]}),  # reporting since later
        "stockpile": pd.DataFrame({"ts": []}),
    }
    young = History(readings, pd.DataFrame(), pd.DataFrame(), {"start": now - pd.Timedelta(days=1)})
    old = History(readings, pd.DataFrame(), pd.DataFrame(), {"start": now - pd.Timedelta(minutes=5)})

    assert record_start_s(young) == first.timestamp()
    assert record_start_s(old) == (now - pd.Timedelta(minutes=5)).timestamp()
