"""Crusher feed bin, liner wear, blockages and the stockpile mass balance."""

from fleet.sim import FaultConfig, default_site, step
from fleet.sim.schema import CrusherStatus, StockpileStatus


def small_site():
    return default_site(
        seed=13, trucks=6, loaders=2, crushers=1, stockpiles=2, config=FaultConfig(failures_enabled=False)
    )


def test_a_crusher_crushes_no_faster_than_its_rated_capacity_times_efficiency():
    state = small_site()
    crusher = state.crushers[0]
    crusher.feed_bin_t = crusher.feed_bin_capacity_t
    crusher.next_blockage_h = 1e6
    result = step(state, 60.0)
    row = result.readings["crusher"][0]
    assert 0 < row["throughput_tph"] <= crusher.rated_tph * crusher.efficiency_pct / 100.0 * 1.001
    assert crusher.status == CrusherStatus.RUNNING


def test_liner_wear_lowers_efficiency_and_raises_vibration():
    fresh, worn = small_site(), small_site()
    fresh.crushers[0].liner_wear_pct, worn.crushers[0].liner_wear_pct = 0.0, 95.0
    for state in (fresh, worn):
        state.crushers[0].feed_bin_t = state.crushers[0].feed_bin_capacity_t
        state.crushers[0].next_blockage_h = 1e6
        step(state, 60.0)
    assert worn.crushers[0].efficiency_pct < fresh.crushers[0].efficiency_pct - 20.0
    assert worn.crushers[0].vibration_mm_s > fresh.crushers[0].vibration_mm_s
    assert worn.crushers[0].health < fresh.crushers[0].health


def test_an_empty_feed_bin_leaves_the_crusher_idle_and_drawing_little_power():
    state = small_site()
    crusher = state.crushers[0]
    crusher.feed_bin_t = 0.0
    for truck in state.trucks:
        truck.fuel_l = 0.01 * truck.fuel_tank_l  # all off to the fuel bay: nothing arrives for a while
    step(state, 10.0)
    assert crusher.status == CrusherStatus.IDLE
    assert crusher.power_kw < 0.2 * crusher.motor_power_kw


def test_a_chamber_blockage_stops_the_crusher_for_a_while_and_clears():
    state = small_site()
    crusher = state.crushers[0]
    crusher.feed_bin_t = crusher.feed_bin_capacity_t
    crusher.next_blockage_h = 1e-6
    events = []
    for _ in range(300):
        events += step(state, 10.0).events
    kinds = [(e.kind, e.data.get("reason")) for e in events if e.unit_kind == "crusher"]
    assert ("blocked", "chamber_blockage") in kinds
    assert ("blockage_cleared", None) in kinds


def test_a_stockpile_balances_crusher_feed_against_the_reclaim_rate():
    state = small_site()
    pile = state.stockpiles[0]
    pile.reclaim_rate_tph = 700.0
    level_t, in_t, out_t = pile.level_t, pile.total_in_t, pile.total_out_t
    for _ in range(360):
        step(state, 10.0)
    assert abs(pile.total_out_t - out_t - 700.0) < 1e-6  # one hour at 700 t/h
    assert abs(pile.level_t - (level_t + (pile.total_in_t - in_t) - (pile.total_out_t - out_t))) < 1e-6
    assert pile.total_in_t - in_t > 0
    assert 55.0 < pile.grade_pct < 65.0


def test_a_draining_stockpile_reports_low_then_empty_and_stops_discharging():
    state = small_site()
    pile = state.stockpiles[1]  # a product pile, no crusher feeding it
    pile.level_t = 0.12 * pile.capacity_t
    pile.reclaim_rate_tph = 20_000.0
    events = []
    for _ in range(300):  # 12,000 t at 20,000 t/h: 36 min
        events += [e for e in step(state, 10.0).events if e.unit_kind == "stockpile" and e.unit_id == pile.id]
    kinds = [e.kind for e in events]
    assert "threshold_crossed" in kinds and "stockpile_empty" in kinds
    assert pile.status == StockpileStatus.EMPTY and pile.level_t == 0.0
    result = step(state, 10.0)
    assert result.readings["stockpile"][1]["discharge_rate_tph"] == 0.0


def test_a_stockpile_never_overfills_and_reports_full_once():
    state = small_site()
    pile = state.stockpiles[0]
    pile.level_t = pile.capacity_t - 500.0
    pile.reclaim_rate_tph = 0.0
    state.crushers[0].feed_bin_t = state.crushers[0].feed_bin_capacity_t
    full_events = 0
    for _ in range(600):
        full_events += sum(e.kind == "stockpile_full" for e in step(state, 10.0).events)
        assert pile.level_t <= pile.capacity_t
    assert full_events == 1
    assert state.crushers[0].status == CrusherStatus.BLOCKED
