"""run_scenario_task: queued -> running -> done | cancelled | failed, with progress and results on the row.

The task is called directly against the real database (no eager Celery), as docs/STYLE advises.
"""

import pytest

from analytics.recommendations import services
from analytics.recommendations.models import Recommendation
from analytics.scenarios import engine, runner
from analytics.scenarios import services as scenario_services
from analytics.scenarios.models import Scenario
from analytics.scenarios.tasks import run_scenario_task
from fleet import seeding
from fleet.models import Site
from stockpiles import services as stockpile_services
from stockpiles.models import Stockpile

pytestmark = pytest.mark.django_db

REQUEST = {"start": "current", "shift_hours": 1.0, "seeds": 2, "first_seed": 0, "fleet_sizes": []}


@pytest.fixture
def site():
    return seeding.seed_site(name="Lifecycle pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site


def queue(site: Site, **request) -> Scenario:
    return Scenario.objects.create(site=site, request={**REQUEST, "changes": {"add_trucks": 2}, **request})


@pytest.fixture
def runs(monkeypatch):
    """Wraps the engine's shift runner: `runs.before` / `runs.after` hooks see the scenario row."""

    class Runs:
        seen: list[tuple[str, int]] = []
        before = staticmethod(lambda n: None)
        after = staticmethod(lambda n: None)

    real = engine.run_shift

    def run_shift(*args, **kwargs):
        n = len(Runs.seen)
        row = Scenario.objects.get()
        Runs.seen.append((row.status, row.progress_pct))
        Runs.before(n)
        figures = real(*args, **kwargs)
        Runs.after(n)
        return figures

    monkeypatch.setattr(engine, "run_shift", run_shift)
    return Runs


def test_a_queued_scenario_runs_to_done_with_results(site):
    scenario = queue(site)

    assert run_scenario_task(scenario.pk) == "done"

    scenario.refresh_from_db()
    assert scenario.status == "done" and scenario.progress_pct == 100 and not scenario.error
    assert scenario.started_at <= scenario.finished_at
    results = scenario.results
    assert results["complete"] and results["seeds"] == [0, 1] and results["site_tick"] == site.tick
    assert results["baseline"]["trucks"] == 3 and results["scenario"]["trucks"] == 5
    assert results["baseline"]["strategy"] == site.dispatch_strategy
    assert len(results["scenario"]["per_seed"]) == 2
    assert results["difference"]["tonnes"]["mean"] > 0


def test_progress_is_saved_while_running(site, runs):
    scenario = queue(site)

    run_scenario_task(scenario.pk)

    # Two seeds x (baseline, scenario): each run starts a quarter further on.
    assert runs.seen == [("running", 0), ("running", 25), ("running", 50), ("running", 75)]
    scenario.refresh_from_db()
    assert scenario.progress_pct == 100


def test_progress_is_saved_within_a_run_too(site, monkeypatch):
    scenario = queue(site, seeds=1, shift_hours=2.0)  # 720 steps a run: a checkpoint every 60
    shares, saved = [], []
    original = runner._Checkpoint.__call__

    def spy(self, share_done: float) -> bool:
        go_on = original(self, share_done)
        shares.append(share_done)
        saved.append(Scenario.objects.get().progress_pct)
        return go_on

    monkeypatch.setattr(runner._Checkpoint, "__call__", spy)
    run_scenario_task(scenario.pk)

    assert len(shares) == 2 + 2 * 11 and shares == sorted(shares)  # 2 runs x 11 chunks, plus each start
    assert saved[-1] == 95 and saved == sorted(saved)


def test_cancel_stops_the_run_between_seeds(site, runs):
    scenario = queue(site)

    def cancel_during_second_run(n: int) -> None:
        if n == 1:  # seed 0's scenario run: it finishes, seed 1 never starts
            scenario_services.cancel_scenario(scenario=scenario)

    runs.after = cancel_during_second_run
    assert run_scenario_task(scenario.pk) == "cancelled"

    scenario.refresh_from_db()
    assert scenario.status == "cancelled" and scenario.finished_at and scenario.error
    assert len(runs.seen) == 2
    assert not scenario.results["complete"] and scenario.results["seeds"] == [0]
    assert len(scenario.results["scenario"]["per_seed"]) == 1


def test_cancel_stops_a_long_run_between_chunks_of_steps(site, runs):
    scenario = queue(site, seeds=1, shift_hours=4.0)
    finished_runs = []
    runs.before = lambda n: scenario_services.cancel_scenario(scenario=scenario)
    runs.after = finished_runs.append

    assert run_scenario_task(scenario.pk) == "cancelled"

    assert len(runs.seen) == 1 and finished_runs == []  # stopped inside the first 4 h run
    assert Scenario.objects.get().results["seeds"] == []


def test_a_scenario_cancelled_while_queued_never_runs(site, runs):
    scenario = queue(site)
    scenario_services.cancel_scenario(scenario=scenario)

    assert run_scenario_task(scenario.pk) is None

    assert runs.seen == [] and Scenario.objects.get().status == "cancelled"


def test_a_second_delivery_of_the_task_does_nothing(site):
    scenario = queue(site, seeds=1)
    run_scenario_task(scenario.pk)
    finished = Scenario.objects.get().finished_at

    assert run_scenario_task(scenario.pk) is None
    assert Scenario.objects.get().finished_at == finished


def test_an_engine_error_fails_the_scenario_with_the_reason(site, runs):
    def explode(n: int) -> None:
        raise RuntimeError("haul road graph is disconnected")

    runs.before = explode
    scenario = queue(site)

    assert run_scenario_task(scenario.pk) == "failed"

    scenario.refresh_from_db()
    assert scenario.status == "failed" and scenario.finished_at
    assert scenario.error == "RuntimeError: haul road graph is disconnected"


def test_a_site_changed_since_the_request_fails_with_the_reason(site):
    scenario = queue(site, changes={"loaders_down": [site.loaders.order_by("pk").first().pk]})
    Site.objects.filter(pk=site.pk).update(sim_state={})

    assert run_scenario_task(scenario.pk) == "failed"
    assert "no engine state" in Scenario.objects.get().error


def test_operator_changes_are_in_the_current_state_but_not_the_saved_one(site):
    """A reclaim rate is set on the stockpile row; the next tick (and a "current" scenario) picks it up."""
    pile = Stockpile.objects.get(site=site)
    stockpile_services.set_reclaim_rate(stockpile=pile, reclaim_rate_tph=123.0)
    site.refresh_from_db()

    assert runner.base_state(site, "current").stockpiles[0].reclaim_rate_tph == 123.0
    assert runner.base_state(site, "saved").stockpiles[0].reclaim_rate_tph != 123.0


def test_a_fleet_sweep_on_a_tiny_site_recommends_more_trucks(site, monkeypatch):
    recommended = []
    monkeypatch.setattr(services, "upsert_recommendation", lambda **kw: recommended.append(kw))
    scenario = Scenario.objects.create(
        site=site, kind="fleet_sizing", request={**REQUEST, "changes": {}, "fleet_sizes": [1, 6]}
    )

    assert run_scenario_task(scenario.pk) == "done"

    sizing = Scenario.objects.get().results["fleet_sizing"]
    assert [point["trucks"] for point in sizing["curve"]] == [1, 3, 6]
    assert sizing["verdict"] == "too_small" and sizing["recommended_trucks"] == 6
    [call] = recommended
    assert call["site"] == site and call["kind"] == "fleet_sizing" and call["subject"] == "site"
    assert call["title"].startswith("Add 3 trucks: +") and call["impact_t"] > 0
    assert call["data"]["scenario"] == scenario.pk and call["data"]["verdict"] == "too_small"


def test_a_sweep_that_finds_the_fleet_about_right_withdraws_the_advice(site, monkeypatch):
    expired, upserted = [], []
    monkeypatch.setattr(services, "expire_recommendations", lambda **kw: expired.append(kw))
    monkeypatch.setattr(services, "upsert_recommendation", lambda **kw: upserted.append(kw))
    sizing = {"verdict": "about_right", "recommended_trucks": 3, "current_trucks": 3, "curve": []}

    runner.recommend_fleet_size(site=site, scenario_id=1, sizing=sizing, shift_hours=1.0)

    assert expired == [{"site": site, "kinds": ["fleet_sizing"]}] and upserted == []


def test_a_failing_recommendation_does_not_fail_the_sweep(site, monkeypatch):
    def broken(**kw):
        raise RuntimeError("recommendations table locked")

    monkeypatch.setattr(services, "upsert_recommendation", broken)
    scenario = Scenario.objects.create(
        site=site, kind="fleet_sizing", request={**REQUEST, "seeds": 1, "changes": {}, "fleet_sizes": [6]}
    )

    assert run_scenario_task(scenario.pk) == "done"


def test_a_too_small_fleet_becomes_a_stored_recommendation(site):
    scenario = Scenario.objects.create(
        site=site, kind="fleet_sizing", request={**REQUEST, "seeds": 1, "changes": {}, "fleet_sizes": [6]}
    )

    run_scenario_task(scenario.pk)

    rec = Recommendation.objects.get(site=site, kind="fleet_sizing")
    assert rec.subject == "site" and rec.status == "new" and rec.title.startswith("Add 3 trucks")
    assert rec.data["scenario"] == scenario.pk and rec.impact_t > 0
