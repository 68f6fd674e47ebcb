"""Dispatcher strategies on small hand-made snapshots."""

import pytest

from fleet.dispatch import (
    STRATEGIES,
    Assignment,
    DestinationSnapshot,
    DispatchSnapshot,
    LoaderSnapshot,
    Optimiser,
    TruckSnapshot,
    fixed,
    fixed_to,
    get_dispatcher,
    shortest_queue,
    sptf,
)


def truck(truck_id=1, node="junction", payload_t=0.0, material=None, last_loader_id=None):
    return TruckSnapshot(
        id=truck_id,
        name=f"HT-{truck_id:02d}",
        status="waiting",
        node=node,
        lat=0.0,
        lon=0.0,
        payload_t=payload_t,
        rated_payload_t=227.0,
        material=material,
        last_loader_id=last_loader_id,
    )


def loader(loader_id, material="ore", assigned=0, available=True, remaining_t=1e6):
    return LoaderSnapshot(
        id=loader_id,
        name=f"SH-{loader_id:02d}",
        node=f"zone:{loader_id}",
        zone_id=loader_id,
        material=material,
        grade_pct=60.0,
        dig_rate_tph=5000.0,
        bucket_t=50.0,
        remaining_t=remaining_t,
        available=available,
        queue_length=assigned,
        assigned_trucks=assigned,
    )


def crusher(crusher_id, assigned=0, accepting=True):
    return DestinationSnapshot(
        kind="crusher",
        id=crusher_id,
        name=f"CR-{crusher_id:02d}",
        node=f"crusher:{crusher_id}",
        material="ore",
        capacity_tph=2000.0,
        room_t=300.0 if accepting else 0.0,
        accepting=accepting,
        queue_length=assigned,
        assigned_trucks=assigned,
    )


def dump(dump_id=1):
    return DestinationSnapshot("dump", dump_id, "WD-01", f"dump:{dump_id}", "waste", 0.0, 1e9, True)


def snapshot(trucks, loaders, destinations, travel=None):
    return DispatchSnapshot(
        clock_s=0.0,
        trucks={t.id: t for t in trucks},
        loaders={ld.id: ld for ld in loaders},
        destinations=destinations,
        travel_time_s=travel or {},
    )


def test_shortest_queue_picks_the_loader_with_fewest_trucks_assigned():
    snap = snapshot([truck()], [loader(1, assigned=3), loader(2, assigned=1)], [crusher(1)])
    assert shortest_queue(snap, 1) == Assignment(2, "crusher", 1)


def test_shortest_queue_breaks_ties_by_travel_time():
    travel = {("junction", "zone:1"): 600.0, ("junction", "zone:2"): 120.0}
    snap = snapshot([truck()], [loader(1), loader(2)], [crusher(1)], travel)
    assert shortest_queue(snap, 1).loader_id == 2


def test_shortest_queue_skips_unavailable_and_exhausted_loaders():
    loaders = [loader(1, available=False), loader(2, remaining_t=0.0), loader(3, assigned=9)]
    snap = snapshot([truck()], loaders, [crusher(1)])
    assert shortest_queue(snap, 1).loader_id == 3


def test_shortest_queue_returns_none_when_no_loader_can_take_the_truck():
    snap = snapshot([truck()], [loader(1, available=False)], [crusher(1)])
    assert shortest_queue(snap, 1) is None


def test_waste_goes_to_a_dump_and_ore_to_a_crusher():
    snap = snapshot([truck()], [loader(1, material="waste")], [crusher(1), dump(1)])
    assert shortest_queue(snap, 1) == Assignment(1, "dump", 1)


def test_backed_up_crushers_are_avoided_while_another_accepts():
    snap = snapshot([truck()], [loader(1)], [crusher(1, accepting=False), crusher(2, assigned=4)])
    assert shortest_queue(snap, 1).destination_id == 2


def test_a_loaded_truck_is_sent_straight_to_a_destination_for_its_load():
    snap = snapshot([truck(payload_t=200.0, material="waste")], [loader(1)], [crusher(1), dump(1)])
    assert shortest_queue(snap, 1) == Assignment(None, "dump", 1)


def test_recording_assignments_spreads_trucks_over_loaders():
    trucks = [truck(i) for i in range(1, 5)]
    snap = snapshot(trucks, [loader(1), loader(2)], [crusher(1)])
    chosen = []
    for t in trucks:
        assignment = shortest_queue(snap, t.id)
        snap.record(t.id, assignment)
        chosen.append(assignment.loader_id)
    assert sorted(chosen) == [1, 1, 2, 2]


def test_fixed_keeps_a_truck_on_its_last_loader_even_with_a_longer_queue():
    snap = snapshot([truck(last_loader_id=1)], [loader(1, assigned=5), loader(2)], [crusher(1)])
    assert fixed(snap, 1).loader_id == 1


def test_fixed_falls_back_to_shortest_queue_when_its_loader_is_down():
    snap = snapshot([truck(last_loader_id=1)], [loader(1, available=False), loader(2)], [crusher(1)])
    assert fixed(snap, 1).loader_id == 2


def test_fixed_to_pairs_trucks_with_their_loaders_and_waits_when_the_loader_is_down():
    dispatcher = fixed_to({1: 2})
    snap = snapshot([truck(1), truck(2)], [loader(1), loader(2, assigned=7)], [crusher(1)])
    assert dispatcher(snap, 1).loader_id == 2
    assert dispatcher(snap, 2).loader_id == 1  # unlisted: shortest queue
    snap.loaders[2].available = False
    assert dispatcher(snap, 1) is None


def test_sptf_prefers_a_free_loader_further_away_to_a_busy_one_nearby():
    travel = {("junction", "zone:1"): 60.0, ("junction", "zone:2"): 240.0}
    busy = loader(1, assigned=3)
    busy.free_in_s = 600.0  # three trucks at the face, ten minutes of loading
    snap = snapshot([truck()], [busy, loader(2)], [crusher(1)], travel)
    assert sptf(snap, 1).loader_id == 2


def test_sptf_takes_the_nearest_loader_when_none_has_a_queue():
    travel = {("junction", "zone:1"): 300.0, ("junction", "zone:2"): 90.0}
    snap = snapshot([truck()], [loader(1), loader(2)], [crusher(1)], travel)
    assert sptf(snap, 1) == Assignment(2, "crusher", 1)


def test_sptf_sends_the_load_where_it_is_tipped_soonest():
    haul = {("zone:1", "crusher:1"): 300.0, ("zone:1", "crusher:2"): 420.0}
    backed_up = crusher(1, assigned=6)  # 6 x 227 t ahead of a 2,000 t/h crusher: ~40 min
    snap = snapshot([truck(node="zone:1")], [loader(1)], [backed_up, crusher(2)], haul)
    assert sptf(snap, 1).destination_id == 2


def test_registry_has_one_factory_per_dispatch_strategy_choice():
    assert set(STRATEGIES) == {"fixed", "shortest_queue", "sptf", "optimiser"}
    assert get_dispatcher("shortest_queue") is shortest_queue
    assert isinstance(get_dispatcher("optimiser"), Optimiser)


def test_an_unknown_strategy_name_is_an_error_that_lists_the_choices():
    with pytest.raises(ValueError, match="fixed, shortest_queue, sptf, optimiser"):
        get_dispatcher("random")
