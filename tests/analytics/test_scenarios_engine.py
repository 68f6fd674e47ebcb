"""The pure half of what-if scenarios: changes to a state copy, paired seeds, aggregation, fleet verdicts."""

import pytest

from analytics.scenarios import engine
from analytics.scenarios.engine import Changes, Plan, apply_changes, fleet_verdict, problems, run_scenario
from fleet.sim import default_site


@pytest.fixture
def tiny_site():
    """Three trucks, two loaders (ore and waste), one crusher: an hour runs in ~0.05 s."""
    return default_site(seed=3, trucks=3, crushers=1, stockpiles=1, loaders=2)


def plan(changes: Changes | None = None, **options) -> Plan:
    options = {"base_strategy": "shortest_queue", "shift_hours": 1.0, "seeds": [0, 1], **options}
    return Plan(changes=changes or Changes(), **options)


def keep_going(share_done: float) -> bool:
    return True


def test_changes_apply_to_a_copy_and_leave_the_site_alone(tiny_site):
    before = tiny_site.to_dict()
    crusher = tiny_site.crushers[0]
    changed = apply_changes(
        tiny_site,
        Changes(add_trucks=2, remove_truck_ids=[1], loaders_down=[2], crusher_rated_tph={crusher.id: 1500.0}),
    )

    assert tiny_site.to_dict() == before
    assert [t.id for t in changed.trucks] == [2, 3, 4, 5]
    assert {t.model for t in changed.trucks[-2:]} == {"CAT 793F"}  # the fleet's most common model
    assert str(changed.loaders[1].status) == "maintenance"
    assert changed.crushers[0].rated_tph == 1500.0


def test_a_crusher_with_no_capacity_is_down_for_the_run(tiny_site):
    changed = apply_changes(tiny_site, Changes(crusher_rated_tph={tiny_site.crushers[0].id: 0.0}))

    assert str(changed.crushers[0].status) == "maintenance"


def test_removing_trucks_by_count_takes_the_highest_numbered(tiny_site):
    changed = apply_changes(tiny_site, Changes(remove_trucks=2))

    assert [t.id for t in changed.trucks] == [1]


def test_a_fleet_size_adds_or_removes_trucks_to_make_that_many(tiny_site):
    assert len(apply_changes(tiny_site, Changes(), fleet_size=7).trucks) == 7
    assert [t.id for t in apply_changes(tiny_site, Changes(), fleet_size=1).trucks] == [1]


def test_problems_name_the_field_and_the_unknown_unit(tiny_site):
    found = problems(
        tiny_site,
        plan(
            Changes(loaders_down=[9], remove_truck_ids=[77], truck_model="Tonka", crusher_rated_tph={8: 1.0})
        ),
    )

    assert found["changes.loaders_down.0"] == ["no loader with id 9 on this site (loaders: 1, 2)"]
    assert found["changes.remove_truck_ids.0"] == ["no truck with id 77 on this site"]
    assert "changes.truck_model" in found and "changes.crusher_capacity" in found


def test_problems_keep_runs_bounded(tiny_site):
    assert "changes.add_trucks" in problems(tiny_site, plan(Changes(add_trucks=engine.MAX_TRUCKS)))
    assert "changes" in problems(tiny_site, plan(Changes(remove_trucks=3)))
    assert "changes.loaders_down" in problems(tiny_site, plan(Changes(loaders_down=[1, 2])))
    huge = plan(Changes(add_trucks=400), shift_hours=24.0, seeds=list(range(20)))
    assert {"seeds", "shift_hours", "changes.add_trucks"} <= problems(tiny_site, huge).keys()
    assert "fleet_sizes" in problems(tiny_site, plan(Changes(add_trucks=1), fleet_sizes=[2, 4]))


def test_no_changes_means_no_difference_on_any_seed(tiny_site):
    """Baseline and scenario share their seeds: unchanged, every seed gives exactly the same figures."""
    results = run_scenario(tiny_site, plan(), keep_going)

    assert results["complete"] and results["seeds"] == [0, 1]
    assert results["baseline"]["per_seed"] == results["scenario"]["per_seed"]
    assert results["difference"]["tonnes"]["per_seed"] == [0.0, 0.0]
    assert results["baseline"]["per_seed"][0] != results["baseline"]["per_seed"][1]  # seeds do differ


def test_differences_are_scenario_minus_baseline_seed_by_seed(tiny_site):
    results = run_scenario(tiny_site, plan(Changes(add_trucks=3)), keep_going)

    base, more = results["baseline"]["per_seed"], results["scenario"]["per_seed"]
    assert [b["trucks"] for b in base] == [3, 3] and [s["trucks"] for s in more] == [6, 6]
    assert results["difference"]["tonnes"]["per_seed"] == [
        s["tonnes"] - b["tonnes"] for b, s in zip(base, more, strict=True)
    ]
    assert results["difference"]["tonnes"]["seeds_higher"] == 2  # twice the trucks on two idle loaders
    mean = results["baseline"]["aggregate"]["tonnes"]["mean"]
    assert results["difference"]["tonnes"]["pct"] == pytest.approx(
        100 * results["difference"]["tonnes"]["mean"] / mean
    )
    # The baseline is the site as it is, run alone on the same seed.
    alone = run_scenario(tiny_site, plan(seeds=[1]), keep_going)
    assert alone["baseline"]["per_seed"][0] == base[1]


def test_a_stop_between_seeds_keeps_the_finished_seeds(tiny_site):
    shares = []

    def stop_after_first_seed(share_done: float) -> bool:
        shares.append(share_done)
        return share_done < 0.5  # two runs per seed, two seeds: seed 0 ends at 0.5

    results = run_scenario(tiny_site, plan(Changes(add_trucks=1)), stop_after_first_seed)

    assert not results["complete"]
    assert results["seeds"] == [0]
    assert len(results["scenario"]["per_seed"]) == 1
    assert shares == sorted(shares) and shares[-1] == 0.5


def test_a_fleet_sweep_on_a_tiny_site_gives_a_rising_curve_and_a_verdict(tiny_site):
    results = run_scenario(tiny_site, plan(fleet_sizes=[1, 6]), keep_going)

    sizing = results["fleet_sizing"]
    assert [p["trucks"] for p in sizing["curve"]] == [1, 3, 6]  # the current fleet is always a point
    tonnes = [p["tonnes_mean"] for p in sizing["curve"]]
    assert tonnes == sorted(tonnes)
    assert [p["match_factor"] for p in sizing["curve"]] == sorted(p["match_factor"] for p in sizing["curve"])
    assert sizing["curve"][1]["tonnes_vs_baseline_pct"] == 0.0  # the current fleet is the baseline
    assert sizing["verdict"] == "too_small" and sizing["recommended_trucks"] == 6


def curve(*points: tuple[int, float]) -> list[dict]:
    return [
        {"trucks": n, "tonnes_mean": t, "match_factor": n / 10, "queue_min_per_load": 1.0} for n, t in points
    ]


def test_a_fleet_past_the_plateau_is_too_big():
    verdict = fleet_verdict(curve((8, 40_000), (12, 50_000), (16, 50_500), (20, 50_600)), 20)

    assert verdict["verdict"] == "too_big" and verdict["recommended_trucks"] == 12
    assert "8 trucks mostly queue" in verdict["message"]


def test_a_fleet_short_of_the_plateau_by_little_is_about_right():
    assert fleet_verdict(curve((10, 48_000), (12, 50_000)), 10)["verdict"] == "about_right"  # +4 %
    assert fleet_verdict(curve((11, 49_600), (12, 50_000)), 12)["verdict"] == "about_right"  # 1 spare truck
