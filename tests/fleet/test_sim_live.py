"""Handing trucks between telemetry (live) and the simulator, in whatever phase of the cycle they are."""

from collections import Counter

import pytest

from fleet.sim import SiteState, default_site, step
from fleet.sim.schema import TruckStatus

STEP_S = 10.0


def assert_statuses_match_services(state: SiteState) -> None:
    """A simulated truck is in a queue or service exactly when its status says so; a live one in none."""
    queued_at_loader = Counter(t for loader in state.loaders for t in loader.queue)
    loading = Counter(ld.loading_truck_id for ld in state.loaders if ld.loading_truck_id is not None)
    tip_points = (*state.crushers, *state.dumps)
    queued_at_dump = Counter(t for unit in tip_points for t in unit.queue)
    dumping = Counter(t for unit in tip_points for t in unit.tipping)
    places = {
        TruckStatus.QUEUED_AT_LOADER: queued_at_loader,
        TruckStatus.LOADING: loading,
        TruckStatus.QUEUED_AT_DUMP: queued_at_dump,
        TruckStatus.DUMPING: dumping,
    }
    for truck in state.trucks:
        for status, holders in places.items():
            wanted = 1 if truck.status == status and not truck.live else 0
            assert holders[truck.id] == wanted, (truck.id, truck.live, str(truck.status), str(status))


def assert_mass_balances(state: SiteState) -> None:
    on_trucks = sum(t.payload_t for t in state.trucks)
    loaded_t, dumped_t = state.totals["loaded_t"], state.totals["dumped_t"]
    assert abs(loaded_t - (dumped_t + on_trucks)) < 1e-6 * max(1.0, loaded_t)


def run_until_a_truck_is(state: SiteState, status: TruckStatus, max_steps: int = 2000):
    for _ in range(max_steps):
        step(state, STEP_S)
        truck = next((t for t in state.trucks if t.status == status), None)
        if truck is not None:
            return truck
    raise AssertionError(f"no truck was {status} within {max_steps} steps")


@pytest.mark.parametrize(
    "status",
    [TruckStatus.DUMPING, TruckStatus.LOADING, TruckStatus.QUEUED_AT_LOADER, TruckStatus.QUEUED_AT_DUMP],
)
@pytest.mark.parametrize("live_steps", [1, 30])
def test_a_truck_handed_back_mid_service_rejoins_the_haul_cycle(status, live_steps):
    state = default_site(seed=9)
    truck = run_until_a_truck_is(state, status)
    truck.live = True
    for _ in range(live_steps):
        step(state, STEP_S)
        assert_statuses_match_services(state)
    truck.live = False
    dumped_again = False
    for _ in range(360):  # an hour: more than a haul cycle
        result = step(state, STEP_S)
        dumped_again |= any(e.kind == "dumped" and e.unit_id == truck.id for e in result.events)
        assert_statuses_match_services(state)
        assert_mass_balances(state)
    assert dumped_again, f"truck {truck.id} handed back while {status} never dumped a load again"


def test_a_truck_that_goes_live_while_dumping_keeps_its_load_until_it_dumps_again():
    state = default_site(seed=9)
    truck = run_until_a_truck_is(state, TruckStatus.DUMPING)
    payload_t = truck.payload_t
    crusher_or_dump = next(u for u in (*state.crushers, *state.dumps) if truck.id in u.tipping)
    truck.live = True
    step(state, STEP_S)
    assert truck.id not in crusher_or_dump.tipping
    assert truck.status == TruckStatus.WAITING
    assert truck.payload_t == payload_t  # the dump was not finished: the load is still on board
