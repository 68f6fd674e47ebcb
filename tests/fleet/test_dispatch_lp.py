"""The optimiser: LP flows on cases solvable by hand, backpressure, ore/waste targets, state between ticks."""

import json

import pytest

from fleet.dispatch import (
    DestinationSnapshot,
    DispatchSnapshot,
    LoaderSnapshot,
    Optimiser,
    ProductionTargets,
    TruckSnapshot,
)
from fleet.dispatch.lp import solve_flows

# 200 t trucks under a 50 t bucket at 5,000 t/h: 4 passes of 36 s after a 40 s spot = 184 s a truck.
SERVICE_S = 40.0 + 4 * 36.0


def truck(truck_id, node="zone:1", status="waiting", payload_t=0.0, material=None):
    return TruckSnapshot(
        id=truck_id,
        name=f"HT-{truck_id:02d}",
        status=status,
        node=node,
        lat=0.0,
        lon=0.0,
        payload_t=payload_t,
        rated_payload_t=200.0,
        material=material,
    )


def loader(loader_id, material="ore", available=True):
    return LoaderSnapshot(
        id=loader_id,
        name=f"SH-{loader_id:02d}",
        node=f"zone:{loader_id}",
        zone_id=loader_id,
        material=material,
        grade_pct=60.0,
        dig_rate_tph=5000.0,
        bucket_t=50.0,
        remaining_t=1e6,
        available=available,
    )


def crusher(crusher_id, capacity_tph=1000.0, accepting=True, in_service=True):
    return DestinationSnapshot(
        kind="crusher",
        id=crusher_id,
        name=f"CR-{crusher_id:02d}",
        node=f"crusher:{crusher_id}",
        material="ore",
        capacity_tph=capacity_tph,
        room_t=400.0 if accepting else 0.0,
        accepting=accepting,
        tip_s=60.0,
        tip_points=2,
        in_service=in_service,
    )


def dump(dump_id=1):
    return DestinationSnapshot(
        kind="dump",
        id=dump_id,
        name=f"WD-{dump_id:02d}",
        node=f"dump:{dump_id}",
        material="waste",
        capacity_tph=0.0,
        room_t=1e9,
        accepting=True,
        tip_s=60.0,
        tip_points=4,
    )


def snapshot(trucks, loaders, destinations, seconds, clock_s=0.0):
    """seconds: {(a, b): s} one way; the same both ways, loaded or empty."""
    travel = {**seconds, **{(b, a): s for (a, b), s in seconds.items()}}
    return DispatchSnapshot(
        clock_s=clock_s,
        trucks={t.id: t for t in trucks},
        loaders={ld.id: ld for ld in loaders},
        destinations=destinations,
        travel_time_s=travel,
    )


def test_the_flow_is_the_crusher_rate_when_trucks_and_loader_have_room_to_spare():
    trucks = [truck(i) for i in range(1, 21)]
    snap = snapshot(trucks, [loader(1)], [crusher(1, capacity_tph=1000.0)], {("zone:1", "crusher:1"): 300.0})
    plan = solve_flows(snap)
    assert plan.total_tph() == pytest.approx(1000.0)
    assert "crusher:1" in plan.saturated


def test_one_truck_moves_its_payload_once_per_cycle():
    # load 184 s + haul 600 s + tip 60 s + return 600 s = 1,444 s for 200 t
    snap = snapshot(
        [truck(1)], [loader(1)], [crusher(1, capacity_tph=5000.0)], {("zone:1", "crusher:1"): 600.0}
    )
    plan = solve_flows(snap, truck_efficiency=1.0)
    assert plan.total_tph() == pytest.approx(200.0 * 3600.0 / (SERVICE_S + 600.0 + 60.0 + 600.0), rel=1e-4)


def test_the_flow_is_the_loader_rate_when_the_loader_is_the_bottleneck():
    trucks = [truck(i) for i in range(1, 41)]
    snap = snapshot(trucks, [loader(1)], [crusher(1, capacity_tph=9000.0)], {("zone:1", "crusher:1"): 300.0})
    assert solve_flows(snap).total_tph() == pytest.approx(200.0 * 3600.0 / SERVICE_S, rel=1e-4)


def test_trucks_in_the_workshop_are_not_planned_with():
    trucks = [truck(1), truck(2, status="broken_down"), truck(3, status="maintenance")]
    snap = snapshot(trucks, [loader(1)], [crusher(1, capacity_tph=5000.0)], {("zone:1", "crusher:1"): 600.0})
    one = snapshot(
        [truck(1)], [loader(1)], [crusher(1, capacity_tph=5000.0)], {("zone:1", "crusher:1"): 600.0}
    )
    assert solve_flows(snap).total_tph() == pytest.approx(solve_flows(one).total_tph())


def test_a_crusher_behind_a_full_stockpile_gets_no_more_than_the_reclaim_rate():
    trucks = [truck(i) for i in range(1, 21)]
    seconds = {("zone:1", "crusher:1"): 300.0, ("zone:1", "crusher:2"): 900.0}
    backed_up = crusher(1, capacity_tph=300.0)  # the engine reports the reclaim rate behind a full pile
    plan = solve_flows(snapshot(trucks, [loader(1)], [backed_up, crusher(2)], seconds))
    assert plan.destination_tph("crusher", 1) == pytest.approx(300.0)
    assert plan.destination_tph("crusher", 2) == pytest.approx(1000.0)


def test_a_stopped_crusher_gets_no_flow_and_no_trucks():
    trucks = [truck(i) for i in range(1, 11)]
    seconds = {("zone:1", "crusher:1"): 200.0, ("zone:1", "crusher:2"): 900.0}
    stopped = crusher(1, accepting=False, in_service=False)
    snap = snapshot(trucks, [loader(1)], [stopped, crusher(2)], seconds)
    optimiser = Optimiser()
    for t in trucks:
        assignment = optimiser(snap, t.id)
        snap.record(t.id, assignment)
        assert (assignment.destination_kind, assignment.destination_id) == ("crusher", 2)
    assert optimiser.plan.destination_tph("crusher", 1) == 0.0


def test_a_full_bin_is_avoided_while_another_crusher_accepts():
    trucks = [truck(1, payload_t=200.0, material="ore")]
    seconds = {("zone:1", "crusher:1"): 200.0, ("zone:1", "crusher:2"): 300.0}
    full = crusher(1, accepting=False)  # running, but its bin has no room now
    snap = snapshot(trucks, [loader(1)], [full, crusher(2)], seconds)
    assert Optimiser()(snap, 1).destination_id == 2


def test_ore_trucks_go_to_waste_when_no_crusher_can_take_ore():
    trucks = [truck(i, node="dump:1") for i in range(1, 4)]
    seconds = {("zone:1", "crusher:1"): 300.0, ("zone:2", "dump:1"): 300.0, ("dump:1", "zone:1"): 200.0}
    snap = snapshot(trucks, [loader(1), loader(2, "waste")], [crusher(1, in_service=False), dump()], seconds)
    assert {Optimiser()(snap, t.id).loader_id for t in trucks} == {2}


def test_without_targets_the_lp_moves_the_short_waste_cycle_only():
    trucks = [truck(i) for i in range(1, 4)]
    seconds = {("zone:1", "crusher:1"): 1200.0, ("zone:2", "dump:1"): 300.0, ("zone:1", "zone:2"): 600.0}
    seconds |= {("zone:1", "dump:1"): 900.0, ("zone:2", "crusher:1"): 900.0}
    plan = solve_flows(
        snapshot(trucks, [loader(1), loader(2, "waste")], [crusher(1, 5000.0), dump()], seconds)
    )
    assert plan.loader_tph(1) == 0.0
    assert plan.loader_tph(2) > 0.0


@pytest.mark.parametrize(("share_min", "share_max"), [(0.5, None), (0.3, 0.3), (None, 0.2)])
def test_the_ore_share_keeps_to_the_plan(share_min, share_max):
    trucks = [truck(i) for i in range(1, 4)]
    seconds = {("zone:1", "crusher:1"): 1200.0, ("zone:2", "dump:1"): 300.0, ("zone:1", "zone:2"): 600.0}
    seconds |= {("zone:1", "dump:1"): 900.0, ("zone:2", "crusher:1"): 900.0}
    snap = snapshot(trucks, [loader(1), loader(2, "waste")], [crusher(1, 5000.0), dump()], seconds)
    plan = solve_flows(snap, ProductionTargets(ore_share_min=share_min, ore_share_max=share_max))
    share = plan.loader_tph(1) / plan.total_tph()
    if share_min is not None:
        assert share >= share_min - 1e-6
    if share_max is not None:
        assert share <= share_max + 1e-6
    assert plan.total_tph() > 0


def test_an_ore_target_that_cannot_be_met_still_moves_waste():
    trucks = [truck(i) for i in range(1, 4)]
    snap = snapshot(
        trucks,
        [loader(1, available=False), loader(2, "waste")],
        [crusher(1), dump()],
        {("zone:2", "dump:1"): 300.0},
    )
    plan = solve_flows(snap, ProductionTargets(ore_share_min=0.5))
    assert plan.loader_tph(2) > 0.0


def test_trucks_are_spread_over_loaders_in_proportion_to_their_planned_flow():
    trucks = [truck(i, node="dump:1") for i in range(1, 7)]
    seconds = {("zone:1", "dump:1"): 600.0, ("zone:2", "dump:1"): 600.0}
    snap = snapshot(trucks, [loader(1, "waste"), loader(2, "waste")], [dump()], seconds)
    optimiser = Optimiser()
    chosen = []
    for t in trucks:
        assignment = optimiser(snap, t.id)
        snap.record(t.id, assignment)
        chosen.append(assignment.loader_id)
    plan = optimiser.plan
    assert plan.loader_tph(1) > 0 and plan.loader_tph(2) > 0  # queueing makes one busy loader cost more
    share_1 = plan.loader_tph(1) / plan.total_tph()
    assert abs(chosen.count(1) / len(chosen) - share_1) <= 1 / len(chosen)


def test_the_state_survives_a_round_trip_through_json():
    trucks = [truck(i, node="dump:1") for i in range(1, 5)]
    seconds = {("zone:1", "dump:1"): 600.0, ("zone:2", "dump:1"): 400.0}
    snap = snapshot(trucks, [loader(1, "waste"), loader(2, "waste")], [dump()], seconds)
    first = Optimiser()
    snap.record(1, first(snap, 1))
    saved = json.loads(json.dumps(first.to_dict()))
    again = Optimiser(state=saved)
    assert again.to_dict() == first.to_dict()
    assert again(snap, 2) == first(snap, 2)
    assert again.solves == 0  # the saved plan was reused, not re-solved


def test_the_plan_is_recomputed_when_a_loader_goes_down():
    trucks = [truck(i) for i in range(1, 5)]
    seconds = {("zone:1", "crusher:1"): 600.0, ("zone:3", "crusher:1"): 600.0}
    snap = snapshot(trucks, [loader(1), loader(3)], [crusher(1, 5000.0)], seconds)
    optimiser = Optimiser()
    optimiser(snap, 1)
    snap.loaders[3].available = False
    assert optimiser(snap, 2).loader_id == 1
    assert optimiser.solves == 2
    assert optimiser.plan.loader_tph(3) == 0.0
