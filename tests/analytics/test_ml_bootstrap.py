"""First models on first start: a simulated site with no active model gets them trained in the background on
simulated sites like it, with its progress visible; a failed bootstrap leaves nothing and is retried."""

import datetime as dt
import multiprocessing

import billiard.process
import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics.ml import pipeline
from analytics.ml.history import simulate_histories
from analytics.ml.train import FailureModel, NotEnoughFailures, feature_columns
from analytics.scoring import bootstrap, predictions, registry, selectors, tasks
from analytics.scoring.models import BootstrapStatus, ModelBootstrap, ModelVersion, Prediction
from fleet import seeding
from fleet.models import Site, Truck
from smartmine import health
from smartmine.platform import locks
from tests.apiclients import role_client

#: Small sizes: two simulated sites of the test site's size (6 trucks, 1 crusher) for 3 days each (the full
#: size, 6 sites x 7 days, is measured in docs/ml.md).
SMALL = {
    "ML_BOOTSTRAP_SEEDS": 2,
    "ML_BOOTSTRAP_DAYS": 3.0,
    "ML_BOOTSTRAP_WORKERS": 1,
    "ML_BOOTSTRAP_TRUCK_SEEDS": 2,
    "ML_BOOTSTRAP_REFINE_SEEDS": 0,  # no refinement but where a test asks for one
}
SMALL_KINDS = ["failure_truck", "anomaly_truck"]


@pytest.fixture(autouse=True)
def small_bootstrap(settings, tmp_path):
    for name, value in SMALL.items():
        setattr(settings, name, value)
    settings.MODEL_DIR = tmp_path / "models"
    registry._loaded.clear()
    return settings.MODEL_DIR


@pytest.fixture
def site(db) -> Site:
    seeding.seed_site(name="Boot pit", trucks=6, crushers=1, stockpiles=1, loaders=2)
    call_command("simulate", site="Boot pit", hours=2, stdout=open("/dev/null", "w"))  # noqa: SIM115
    return Site.objects.get(name="Boot pit")


@pytest.fixture
def quick_trainer(monkeypatch):
    """The real trainer needs about a week per site (a 30 % validation, a 24 h embargo, three calibration
    folds); three simulated days cannot feed it. Everything around it stays real (simulation, the registry,
    the gate, artifacts, activation, scoring): a plain fit stands in, with figures that pass the gate."""

    def train(features, targets, kind, **options):
        names = feature_columns(features)
        filled = features.assign(**{name: features[name].fillna(0.0) for name in names})
        model = FailureModel(kind, names).fit(filled, targets)
        model.threshold = 0.3
        metrics = {"roc_auc": 0.8, "pr_auc": 0.6, "brier": 0.12, "ece": 0.04, "failure_events": 9}
        return model, {**metrics, "median_lead_h": 6.0}

    monkeypatch.setattr(registry, "train_failure_model", train)


def artifacts(model_dir) -> list:
    return sorted(model_dir.rglob("*.skops")) if model_dir.exists() else []


def test_simulated_histories_report_progress_and_keep_the_order_of_their_seeds():
    calls = []
    histories = simulate_histories(
        [3, 1], days=0.02, workers=1, progress=lambda done, total: calls.append((done, total)),
        trucks=1, crushers=1,
    )  # fmt: skip
    assert [h.meta["seed"] for h in histories] == [3, 1]
    assert calls == [(1, 2), (2, 2)]


def test_a_history_can_keep_only_the_readings_some_kinds_need():
    (whole,) = simulate_histories([4], days=0.02, workers=1, trucks=2, crushers=1)
    (lean,) = simulate_histories([4], days=0.02, workers=1, trucks=2, crushers=1, readings=("crusher",))
    assert set(whole.readings) == {"truck", "crusher", "stockpile"} and set(lean.readings) == {"crusher"}
    assert lean.readings["crusher"].equals(whole.readings["crusher"]) and lean.events.equals(whole.events)


def test_the_provenance_names_the_seeds_and_days():
    assert (
        bootstrap.provenance_text([9001, 9002, 9003], 7.0)
        == "simulated history, seeds 9001-9003 (7 days each)"
    )


@pytest.mark.django_db
def test_a_simulated_site_without_models_is_bootstrapped_once_and_a_real_site_is_not(site):
    assert bootstrap.should_start(site)
    assert tasks.start_bootstraps([site.pk]) == [site.pk]
    assert ModelBootstrap.objects.get(site=site).status == BootstrapStatus.QUEUED
    assert not bootstrap.should_start(site)  # queued: the next refresh does not queue another
    assert tasks.start_bootstraps([site.pk]) == []

    ModelBootstrap.objects.all().delete()
    Truck.objects.filter(site=site).update(live=True)  # every truck on telemetry: a real site
    assert not bootstrap.is_simulated(site) and not bootstrap.should_start(site)


@pytest.mark.django_db
def test_a_failed_bootstrap_is_retried_after_its_back_off_and_given_up_after_max_attempts(site):
    now = timezone.now()
    state = ModelBootstrap.objects.create(
        site=site, status=BootstrapStatus.FAILED, attempts=1, queued_at=now, finished_at=now
    )
    assert not bootstrap.should_start(site, now=now + dt.timedelta(seconds=30))
    assert bootstrap.should_start(site, now=now + bootstrap.RETRY_AFTER)
    state.attempts = 2
    state.save()
    assert not bootstrap.should_start(site, now=now + bootstrap.RETRY_AFTER)  # doubled: 2 min
    assert bootstrap.should_start(site, now=now + 2 * bootstrap.RETRY_AFTER)
    state.attempts = bootstrap.MAX_ATTEMPTS
    state.save()
    assert not bootstrap.should_start(site, now=now + dt.timedelta(days=1))


@pytest.mark.django_db
def test_a_bootstrap_that_fails_leaves_no_version_and_no_artifact_and_the_next_trigger_retries(
    site, small_bootstrap, monkeypatch
):
    real_anomaly = registry.retrain_anomaly

    def anomaly_then_crash(kind, histories, **options):
        if kind == "anomaly_truck":
            return real_anomaly(kind, histories, **options)  # registers a version and writes its artifact
        raise RuntimeError("trainer crashed")

    monkeypatch.setattr(registry, "retrain_anomaly", anomaly_then_crash)
    monkeypatch.setattr(registry, "retrain_failure", anomaly_then_crash)
    bootstrap.mark_queued(site)

    assert tasks.bootstrap_models_task(site.pk, kinds=["anomaly_truck", "failure_truck"]) == []

    assert not ModelVersion.objects.exists()
    assert artifacts(small_bootstrap) == []
    state = ModelBootstrap.objects.get(site=site)
    assert state.status == BootstrapStatus.FAILED and state.attempts == 1
    assert "RuntimeError: trainer crashed" in state.error
    assert selectors.model_state()["status"] == "failed"
    later = state.finished_at + bootstrap.RETRY_AFTER
    assert bootstrap.should_start(site, now=later)


@pytest.mark.django_db
def test_failure_models_stay_when_the_anomaly_phase_fails_and_the_retry_trains_only_what_is_missing(
    site, small_bootstrap, quick_trainer, monkeypatch
):
    real_anomaly = registry.retrain_anomaly

    def truck_then_crash(kind, histories, **options):
        if kind == "anomaly_truck":
            return real_anomaly(kind, histories, **options)  # registers a version and writes its artifact
        raise RuntimeError("anomaly trainer crashed")

    monkeypatch.setattr(registry, "retrain_anomaly", truck_then_crash)
    refreshed = []
    monkeypatch.setattr(tasks.refresh_predictions_task, "delay", lambda site_id: refreshed.append(site_id))
    bootstrap.mark_queued(site)

    assert (
        tasks.bootstrap_models_task(site.pk, kinds=["failure_truck", "anomaly_truck", "anomaly_crusher"])
        == []
    )

    (version,) = ModelVersion.objects.all()
    assert version.kind == "failure_truck" and version.active
    assert artifacts(small_bootstrap) == [
        small_bootstrap / version.artifact_path
    ]  # the rolled back one removed
    assert refreshed == [site.pk]  # predictions did not wait for the anomaly models
    state = ModelBootstrap.objects.get(site=site)
    assert state.status == BootstrapStatus.FAILED and "anomaly trainer crashed" in state.error
    assert "failure_truck" not in bootstrap.missing_kinds() and "anomaly_truck" in bootstrap.missing_kinds()


def test_failure_models_trained_in_processes_come_back_per_job_with_their_exceptions():
    histories = simulate_histories([5], days=0.02, workers=1, trucks=2, crushers=1)

    results = pipeline.train_in_processes({"truck": (histories, "truck"), "crusher": (histories, "crusher")})

    assert set(results) == {"truck", "crusher"}  # an hour holds no breakdown to learn from
    assert all(isinstance(outcome, NotEnoughFailures) for outcome in results.values())


@pytest.mark.django_db
def test_the_bootstrap_registers_active_models_with_their_provenance_and_the_site_gets_predictions(
    site, quick_trainer, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(bootstrap, "missing_kinds", lambda: [k for k in SMALL_KINDS if not _active(k)])
    refreshed = []
    monkeypatch.setattr(tasks.refresh_predictions_task, "delay", lambda site_id: refreshed.append(site_id))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert tasks.start_bootstraps([site.pk]) == [site.pk]
    assert len(callbacks) == 1  # the task is sent after commit
    assert selectors.model_state()["status"] == "training"

    results = tasks.bootstrap_models_task(site.pk)

    assert {r["kind"]: r["promoted"] for r in results} == {"failure_truck": True, "anomaly_truck": True}
    versions = ModelVersion.objects.filter(active=True)
    assert {v.kind for v in versions} == set(SMALL_KINDS)
    assert {v.provenance for v in versions} == {"simulated history, seeds 9001-9002 (3 days each)"}
    assert all(v.sites == [] for v in versions)  # learned from no site of this installation
    state = ModelBootstrap.objects.get(site=site)
    assert state.status == BootstrapStatus.DONE and state.progress == 1.0 and state.seeds == [9001, 9002]
    assert refreshed == [site.pk, site.pk]  # once the failure models are in, again with the anomaly ones
    assert not bootstrap.should_start(site)  # done: from now on the nightly retrain takes over

    outcome = predictions.refresh_site(site.pk, force=True)
    assert outcome.refreshed and outcome.predictions == Truck.objects.filter(site=site).count()
    assert set(Prediction.objects.values_list("model__provenance", flat=True)) == {versions[0].provenance}


def test_the_bootstrap_refines_its_first_models_on_more_sites_and_keeps_them_when_refining_fails(
    site, quick_trainer, monkeypatch, settings
):
    # Trucks stand in for the refined kinds (crushers and loaders): three simulated days hold truck failures.
    monkeypatch.setattr(bootstrap, "REFINED_KINDS", ("failure_truck",))
    settings.ML_BOOTSTRAP_REFINE_SEEDS = 3
    seen = []
    real = simulate_histories
    monkeypatch.setattr(bootstrap, "simulate_histories", lambda seeds, *a, **k: seen.append(
        (seeds, k.get("readings"))) or real(seeds, *a, **k))  # fmt: skip
    refreshed = []

    results = bootstrap.bootstrap(site.pk, kinds=["failure_truck"], ready=lambda: refreshed.append(1))

    # The first two sites are reused, one more is simulated, keeping only the refined kind's readings.
    assert seen == [([9001, 9002], None), ([9003], ("truck",))]
    assert [(r.version.version, r.promoted) for r in results] == [(1, True), (2, True)]
    first, refined = (r.version for r in results)
    first.refresh_from_db()
    assert not first.active and refined.active
    assert refined.provenance == "simulated history, seeds 9001-9003 (3 days each)"
    assert refined.promotion["extends"] == "refines the bootstrap's first model on 3 simulated sites"
    assert "extends" not in first.promotion
    assert refreshed == [1, 1]  # predictions refreshed with the first model, again with the refined one
    state = ModelBootstrap.objects.get(site=site)
    assert state.status == BootstrapStatus.DONE and state.seeds == [9001, 9002, 9003]
    assert state.step == "done: 1 of 1 models active; failure_truck refined on 3 sites"
    assert selectors.model_state()["status"] == "ready"

    # A refinement that fails leaves the first model of that run active and no artifact of its own.
    monkeypatch.setattr(registry, "retrain_failure", _failing_after(registry.retrain_failure, calls=1))
    (again,) = bootstrap.bootstrap(site.pk, kinds=["failure_truck"])  # v3, compared with v2; no v4
    active = ModelVersion.objects.get(kind="failure_truck", active=True)
    assert active.version == (3 if again.promoted else 2)
    assert ModelVersion.objects.count() == 3 and len(artifacts(settings.MODEL_DIR)) == 3
    state.refresh_from_db()
    assert state.status == BootstrapStatus.DONE and state.step.endswith("; refining failed")
    assert "refinement broke" in state.error


def test_a_refined_model_is_compared_with_an_active_model_this_bootstrap_did_not_make(
    site, quick_trainer, monkeypatch, settings
):
    monkeypatch.setattr(bootstrap, "REFINED_KINDS", ("failure_truck",))
    settings.ML_BOOTSTRAP_REFINE_SEEDS = 3
    bootstrap.bootstrap(site.pk, kinds=["failure_truck"])  # v1 first, v2 refined: active
    trained, calls = registry.train_failure_model, {"n": 0}

    def too_few_breakdowns_first(*args, **kwargs):
        """The next first model fails the real gate (too few breakdowns); its refinement passes."""
        calls["n"] += 1
        model, metrics = trained(*args, **kwargs)
        return model, {**metrics, "failure_events": 2} if calls["n"] == 1 else metrics

    monkeypatch.setattr(registry, "train_failure_model", too_few_breakdowns_first)
    first, refined = bootstrap.bootstrap(site.pk, kinds=["failure_truck"])

    assert not first.promoted and "refused" in first.version.promotion  # v2, of the earlier run, stays active
    assert "by_metric" in refined.version.promotion  # so v4 is compared with v2 as any retraining is
    assert "extends" not in refined.version.promotion


def test_a_refinement_whose_worker_was_lost_is_marked_done_and_a_running_one_is_left_alone(site):
    began = timezone.now() - bootstrap.LOST_AFTER - dt.timedelta(minutes=1)
    ModelBootstrap.objects.create(
        site=site, status=BootstrapStatus.REFINING, step="refining failure_loader", queued_at=began,
        started_at=began, seeds=[9001], days=7.0, attempts=1,
    )  # fmt: skip
    with locks.session_lock(registry.RETRAIN_LOCK) as held:  # a slow refinement, still running, holds it
        assert held and not bootstrap.settle_lost_refinement(site)
    assert not bootstrap.settle_lost_refinement(site, now=began + dt.timedelta(minutes=5))  # not yet overdue

    tasks.start_bootstraps([site.pk])  # the periodic refresh settles it on its way

    state = ModelBootstrap.objects.get(site=site)
    assert state.status == BootstrapStatus.DONE and state.step.startswith("done; refining lost")
    assert not bootstrap.settle_lost_refinement(site)  # once


def _failing_after(function, *, calls: int):
    """`function`, raising after its first `calls` calls."""
    count = {"n": 0}

    def wrapped(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise RuntimeError("refinement broke")
        return function(*args, **kwargs)

    return wrapped


def _active(kind: str) -> bool:
    return ModelVersion.objects.filter(kind=kind, active=True).exists()


@pytest.mark.django_db
def test_the_health_prediction_endpoint_shows_the_bootstrap_progress(site):
    ModelBootstrap.objects.create(
        site=site, status=BootstrapStatus.TRAINING, step="training failure_crusher", progress=0.55,
        queued_at=timezone.now(), seeds=[9001], days=7.0, attempts=1,
    )  # fmt: skip

    body = role_client("viewer").get(f"/api/ml/health-prediction?site={site.pk}").json()

    assert body["status"] == "training" and body["results"] == [] and body["model_version"] is None
    assert body["bootstrap"]["progress"] == 0.55 and body["bootstrap"]["step"] == "training failure_crusher"


@pytest.mark.django_db
def test_the_models_health_component_reports_training_without_failing(site):
    ModelBootstrap.objects.create(
        site=site, status=BootstrapStatus.TRAINING, step="simulated 1 of 6 sites", progress=0.07,
        queued_at=timezone.now(),
    )  # fmt: skip

    detail = health.check_models()  # a check fails only by raising; this one reports

    assert detail["state"] == "training" and detail["bootstrap"]["progress"] == 0.07


def test_a_real_site_is_bootstrapped_only_by_the_command(site, capsys):
    Truck.objects.filter(site=site).update(live=True)
    assert not bootstrap.should_start(site)

    call_command("retrain_models", "--bootstrap", site.slug, "--kind", "anomaly_truck")

    version = ModelVersion.objects.get(kind="anomaly_truck")
    assert version.active and version.provenance.startswith("simulated history, seeds 9001-9002")
    assert "anomaly_truck" in capsys.readouterr().out


def test_a_daemonic_process_as_celery_runs_tasks_in_may_still_simulate_in_parallel(monkeypatch):
    config = multiprocessing.current_process()._config
    monkeypatch.setitem(config, "daemon", True)  # a prefork pool child, as the batch worker's
    monkeypatch.setitem(config, "authkey", billiard.process.AuthenticationString(b"k" * 32))  # billiard's
    with bootstrap._may_have_children():
        histories = simulate_histories([5, 6], days=0.01, workers=2, trucks=1, crushers=1)
    assert [h.meta["seed"] for h in histories] == [5, 6]
    assert config["daemon"] is True and type(config["authkey"]) is billiard.process.AuthenticationString


@pytest.mark.django_db
def test_ml_bootstrap_false_turns_the_automatic_bootstrap_off(site, settings):
    assert bootstrap.should_start(site)
    settings.ML_BOOTSTRAP = False
    assert not bootstrap.should_start(site)


def test_make_run_queues_the_first_models_before_the_workers_start(site, django_capture_on_commit_callbacks):
    from smartmine.management.commands.runsystem import queue_first_models

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert queue_first_models() == [site.pk]
    assert len(callbacks) == 1  # bootstrap_models_task, sent once the row says queued
    assert ModelBootstrap.objects.get(site=site).status == BootstrapStatus.QUEUED
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert queue_first_models() == []  # a restart while it waits queues no second one
    assert callbacks == []


def test_every_loader_of_the_site_is_a_scoring_key_even_before_its_first_load(site):
    keys = predictions.site_loaders(site.pk)
    assert sorted(keys["unit_id"]) == sorted(site.loaders.values_list("pk", flat=True))
    assert set(keys["site_id"]) == {site.pk} and set(keys["unit_kind"]) == {"loader"}
