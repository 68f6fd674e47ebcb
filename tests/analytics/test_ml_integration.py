"""The ML side on the real database: history read from PostgreSQL, registry and artifacts, live scoring,
anomalies raised as alerts and broadcast, and the health-prediction endpoint."""

import asyncio
import datetime as dt
import json
import re

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.management import call_command
from django.test import override_settings

from analytics.alerts import alarms
from analytics.alerts.models import Alert
from analytics.management.commands import retrain_models
from analytics.ml.artifacts import save_artifact
from analytics.ml.features import KEYS, REPAIR_EVENTS
from analytics.ml.history import simulate_history
from analytics.ml.pipeline import prepare
from analytics.ml.train import FailureModel
from analytics.scoring import frames, predictions, registry, services
from analytics.scoring.models import Anomaly, ModelVersion, Prediction
from analytics.scoring.tasks import refresh_predictions_task, retrain_models_task
from fleet import seeding
from fleet.models import SimEvent, Site, Truck
from plants.models import Crusher
from smartmine.platform import live
from tests.apiclients import assert_error, role_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"
    registry._loaded.clear()
    return settings.MODEL_DIR


@pytest.fixture(scope="module")
def tiny_truck_model() -> FailureModel:
    """A failure model fitted in seconds on a headless day and a half of six trucks (no split: tiny)."""
    history = simulate_history(1, days=1.5, trucks=6, crushers=1)
    features, targets = prepare([history], "truck")
    names = [c for c in features.columns if c not in (*KEYS, "ts", "is_down")]
    features[names] = features[names].fillna(0.0)  # all-NaN columns of a short history trip the binning
    model = FailureModel("truck", names).fit(features, targets)
    model.threshold = 0.3
    return model


@pytest.fixture
def site() -> Site:
    seeding.seed_site(name="ML pit", trucks=4, crushers=1, stockpiles=1, loaders=2)
    call_command("simulate", site="ML pit", hours=3, stdout=open("/dev/null", "w"))  # noqa: SIM115
    return Site.objects.get(name="ML pit")


def register(model, kind: str, **metrics) -> ModelVersion:
    now = dt.datetime.now(dt.UTC)
    return registry.register_model(
        kind=kind, model=model, metrics=metrics, promotion={}, activate=True, training_start=now,
        training_end=now, sites=[], features=getattr(model, "feature_names", []),
    )  # fmt: skip


def test_history_is_read_from_postgresql_one_reading_per_unit_per_minute(site):
    end = site.sim_clock + dt.timedelta(microseconds=1)
    history = frames.site_history(site, start=end - dt.timedelta(hours=2), end=end)

    trucks = history.readings["truck"]
    assert trucks["unit_id"].nunique() == 4
    assert set(trucks.groupby("unit_id").size()) <= {120, 121}  # simulate stores one every 10 s
    assert (trucks["ts"] == trucks["ts"].dt.floor("1min")).all() and str(trucks["ts"].dt.tz) == "UTC"
    assert {"loaded", "dumped"} <= set(history.events["kind"])
    assert isinstance(history.events["data"].iloc[0], dict)


def test_the_event_window_carries_each_units_last_service_however_long_ago(site):
    """Hours since the last service stay known for a unit serviced before the window the refresh reads."""
    end = site.sim_clock + dt.timedelta(microseconds=1)
    start = end - dt.timedelta(hours=1)
    truck, other = Truck.objects.filter(site=site).order_by("pk")[:2]
    SimEvent.objects.filter(site=site, unit_kind="truck", kind__in=REPAIR_EVENTS).delete()
    past = ((truck, "serviced", 30), (truck, "repaired", 10), (other, "serviced", 20), (truck, "loaded", 40))
    for unit, kind, days_ago in past:
        ts = start - dt.timedelta(days=days_ago)
        SimEvent.objects.create(site=site, ts=ts, kind=kind, unit_kind="truck", unit_id=unit.pk)

    events = frames.event_frame(site.pk, start=start, end=end)

    before = events.loc[(events["ts"] < frames._ns(start)) & (events["unit_kind"] == "truck")]
    assert sorted(zip(before["unit_id"], before["kind"], strict=True)) == sorted(
        [(truck.pk, "repaired"), (other.pk, "serviced")]
    )  # only the latest service of each unit, and nothing else from before the window
    assert (events.loc[events["ts"] >= frames._ns(start), "kind"] == "loaded").any()
    assert events["ts"].is_monotonic_increasing


def test_predictions_are_stored_for_every_unit_and_served_riskiest_first(site, tiny_truck_model):
    version = register(tiny_truck_model, "failure_truck", roc_auc=0.8)

    outcome = predictions.refresh_site(site.pk, force=True)

    assert outcome.refreshed and outcome.predictions == Prediction.objects.count()
    body = role_client("viewer").get(f"/api/ml/health-prediction?site={site.slug}").json()
    assert body["model_version"] == version.label == "failure_truck@1"
    names = set(Truck.objects.filter(site=site).values_list("name", flat=True))
    assert {item["equipment_name"] for item in body["results"]} <= names and body["count"] >= 3
    item = body["results"][0]
    assert set(item) == {
        "equipment_kind", "equipment_id", "equipment_name", "predicted_health", "health",
        "failure_probability", "rul_h", "model_version", "factors",
    }  # fmt: skip
    assert 0 <= item["failure_probability"] <= 1 and 0 <= item["predicted_health"] <= 100
    assert item["health"] == item["predicted_health"]  # the old name of the same figure, for old clients
    assert all(set(f) == {"feature", "contribution"} for f in item["factors"])
    probabilities = [row["failure_probability"] for row in body["results"]]
    assert probabilities == sorted(probabilities, reverse=True)


def test_a_refresh_is_skipped_until_the_site_has_ticked_enough(site, tiny_truck_model):
    register(tiny_truck_model, "failure_truck")
    assert predictions.refresh_site(site.pk).refreshed
    assert predictions.refresh_site(site.pk).reason == "refreshed recently"


def test_past_predictions_are_compared_with_the_breakdowns_that_followed(site, tiny_truck_model):
    register(tiny_truck_model, "failure_truck")
    predictions.refresh_site(site.pk, force=True)
    truck = Prediction.objects.filter(equipment_kind="truck").first()
    Prediction.objects.update(ts=site.sim_clock - dt.timedelta(hours=30))
    site.events.create(
        ts=site.sim_clock - dt.timedelta(hours=20), kind="breakdown", unit_kind="truck",
        unit_id=truck.equipment_id,
    )  # fmt: skip

    predictions.resolve_outcomes(site)

    assert Prediction.objects.get(pk=truck.pk).failed is True
    assert not Prediction.objects.exclude(equipment_id=truck.equipment_id).filter(failed=True).exists()
    models = role_client("viewer").get("/api/ml/models").json()
    assert models[0]["live"]["resolved"] == Prediction.objects.count()


def test_a_tampered_artifact_is_refused_when_loaded_through_the_registry(model_dir, tiny_truck_model):
    version = register(tiny_truck_model, "failure_truck")
    path = model_dir / version.artifact_path
    path.write_bytes(path.read_bytes() + b"\0")

    with pytest.raises(registry.RegistryError, match="does not match its recorded SHA-256"):
        registry.load_model(version)
    assert registry.active_models(["failure_truck"]) == {}  # scoring goes on without it


def test_an_artifact_path_outside_the_model_dir_is_refused(tiny_truck_model):
    version = register(tiny_truck_model, "failure_truck")
    version.artifact_path = "../../etc/passwd"

    with pytest.raises(registry.RegistryError, match="outside MODEL_DIR"):
        registry.load_model(version)


def test_two_installations_numbering_their_models_alike_keep_separate_artifacts(settings):
    now = dt.datetime.now(dt.UTC)

    def register_first_version(installation: str, weights: list[int]) -> ModelVersion:
        """Version 1 of the kind in a fresh database of `installation`, as each registry numbers it."""
        ModelVersion.objects.all().delete()
        with override_settings(INSTALLATION_ID=installation):
            return registry.register_model(
                kind="failure_truck", model={"weights": weights}, metrics={}, promotion={}, activate=True,
                training_start=now, training_end=now, sites=[], features=[],
            )  # fmt: skip

    mine = register_first_version(settings.INSTALLATION_ID, [1, 2])
    theirs = register_first_version("mine-b", [3, 4])

    assert mine.version == theirs.version == 1
    assert mine.artifact_path != theirs.artifact_path
    assert registry.load_model(mine) == {"weights": [1, 2]}
    assert registry.load_model(theirs) == {"weights": [3, 4]}


def test_an_artifact_written_before_installations_had_ids_still_loads(model_dir):
    sha256 = save_artifact({"weights": [5]}, model_dir / "anomaly_truck" / "v3.skops")
    now = dt.datetime.now(dt.UTC)
    version = ModelVersion.objects.create(
        kind="anomaly_truck", version=3, trained_at=now, training_start=now, training_end=now,
        artifact_path="anomaly_truck/v3.skops", sha256=sha256, active=True,
    )  # fmt: skip

    assert registry.load_model(version) == {"weights": [5]}


def test_an_anomaly_is_stored_linked_to_its_alarm_and_broadcast_after_commit(
    site, django_capture_on_commit_callbacks
):
    truck = Truck.objects.filter(site=site).first()
    start = site.sim_clock - dt.timedelta(minutes=20)
    found = {
        "equipment": truck, "start": start, "end": start + dt.timedelta(minutes=4), "score": 4.2,
        "sensors": ["engine_temp_c"], "checks": ["level"],
    }  # fmt: skip
    alarms.evaluate_scores(
        site.pk, "anomaly", {("truck", truck.pk): 4.2}, site.sim_clock
    )  # the refresh's order
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.record_anomalies(site=site, detections=[found], models={})
    assert len(callbacks) == 1

    async def listen_while_committing() -> list[dict]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(live.channel_group("alerts", site.pk), channel)
        await sync_to_async(callbacks[0])()
        return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(2)]

    frames_sent = [json.loads(message["text"]) for message in async_to_sync(listen_while_committing)()]
    by_type = {frame["type"]: frame for frame in frames_sent}
    [anomaly] = by_type["anomaly"]["data"]
    assert anomaly["equipment_name"] == truck.name and anomaly["sensors"] == ["engine_temp_c"]
    assert anomaly["score"] == 4.2 and by_type["alert"]["data"][0]["kind"] == "truck_sensor_anomaly"
    alert = Alert.objects.get(rule__kind="anomaly")
    assert alert.equipment == truck

    with django_capture_on_commit_callbacks(execute=False) as again:
        services.record_anomalies(site=site, detections=[found], models={})  # seen before: nothing new
    grown = {**found, "end": found["end"] + dt.timedelta(minutes=2), "sensors": ["vibration_mm_s"]}
    services.record_anomalies(site=site, detections=[grown], models={})

    assert (
        again == []
        and Anomaly.objects.count() == 1
        and Alert.objects.filter(rule__kind="anomaly").count() == 1
    )
    stored = Anomaly.objects.get()
    assert stored.sensors == ["engine_temp_c", "vibration_mm_s"] and stored.alert == alert


def test_an_anomaly_with_no_alarm_rule_for_its_kind_is_stored_and_broadcast_without_an_alert(
    site, django_capture_on_commit_callbacks
):
    crusher = Crusher.objects.filter(site=site).first()
    found = {
        "equipment": crusher, "start": site.sim_clock - dt.timedelta(minutes=5), "end": site.sim_clock,
        "score": 2.0, "sensors": ["power_kw"], "checks": ["stuck"],
    }  # fmt: skip
    with django_capture_on_commit_callbacks() as sent:
        [stored] = services.record_anomalies(site=site, detections=[found], models={})
    assert stored.alert is None and not Alert.objects.filter(rule__kind="anomaly").exists() and len(sent) == 1


def test_the_retrain_command_trains_records_and_promotes_no_worse_models(site, model_dir, capsys):
    call_command("retrain_models", kind=["anomaly_stockpile,anomaly_crusher"], since="3h")

    first = ModelVersion.objects.get(kind="anomaly_crusher")
    assert first.active and first.promotion["why"] == "no active"
    assert (model_dir / first.artifact_path).is_file() and len(first.sha256) == 64
    err = capsys.readouterr().err
    assert "reading history" in err and "anomaly_crusher: anomaly_crusher@1" in err

    call_command("retrain_models", kind=["anomaly_crusher"], since="3h")

    second = ModelVersion.objects.get(kind="anomaly_crusher", version=2)
    assert set(second.promotion) >= {"promote", "candidate", "active", "by_metric"}
    assert second.promotion["active"] is not None  # both results recorded, on the same validation rows
    assert ModelVersion.objects.filter(kind="anomaly_crusher", active=True).count() == 1
    from smartmine.platform.models import AuditEntry

    assert AuditEntry.objects.filter(action="retrain").count() == 3  # one per version trained


def table_rows(out: str) -> list[list[str]]:
    """The cells of each row of retrain_models' final table (columns are two or more spaces apart)."""
    lines = out.strip().splitlines()
    assert lines[0].split() == ["kind", "version", "training", "window", "(UTC)", "rows", "validation",
                                "promoted", "why"] and set(lines[1]) == {"-", " "}  # fmt: skip
    return [re.split(r" {2,}", line) for line in lines[2:]]


def test_the_retrain_command_ends_with_a_table_of_each_kind_and_the_registrys_verdict(site, capsys):
    """Which faults three simulated hours hold varies: the rows are checked against the registry's rows."""
    call_command("retrain_models", kind=["anomaly_crusher,failure_truck"], since="3h")
    first = capsys.readouterr()
    call_command("retrain_models", kind=["anomaly_crusher"], since="3h")
    second = capsys.readouterr()

    crusher, truck = table_rows(first.out)
    version = ModelVersion.objects.get(kind="anomaly_crusher", version=1)
    window = f"{version.training_start:%Y-%m-%d %H:%M} to {version.training_end:%Y-%m-%d %H:%M}"
    assert crusher[:4] == ["anomaly_crusher", "anomaly_crusher@1", window, str(version.metadata["rows"])]
    assert re.fullmatch(r"(precision \d\.\d{3}  recall \d\.\d{3}  )?\d+ detected", crusher[4])
    assert crusher[5:] == ["yes", "first model of its kind"]
    if ModelVersion.objects.filter(kind="failure_truck").exists():  # a breakdown within the 3 h
        # Three hours cannot hold five breakdowns in validation: recorded, not activated, and why.
        assert truck[1] == "failure_truck@1" and truck[5] == "no" and truck[6].startswith("not activated: ")
    else:
        assert truck == ["failure_truck", "-", "-", "-", "-", "no",
                         "skipped: no labelled truck failures to learn from"]  # fmt: skip
    assert "training failure_truck ...\nfailure_truck: " in first.err  # progress as each kind starts and ends

    [again] = table_rows(second.out)
    candidate = ModelVersion.objects.get(kind="anomaly_crusher", version=2)
    assert again[1] == "anomaly_crusher@2" and again[5] == ("yes" if candidate.active else "no")
    lost = [name for name, verdict in candidate.promotion["by_metric"].items() if not verdict["ok"]]
    if lost:  # usually: no injected anomaly in the validation hour, so nothing to measure precision on
        assert again[6].startswith("active version kept: ") and all(name in again[6] for name in lost)
    else:
        assert again[6] == "no worse than the active model"


def test_the_table_names_the_figures_a_kept_candidate_lost_on():
    promotion = {"by_metric": {
        "roc_auc": {"candidate": 0.712, "active": 0.8, "ok": False, "why": "better by -0.088"},
        "brier": {"candidate": 0.05, "active": 0.06, "ok": True, "why": "better by +0.01"},
    }}  # fmt: skip
    now = dt.datetime(2026, 5, 8, tzinfo=dt.UTC)
    version = ModelVersion(
        kind="failure_truck", version=4, training_start=now - dt.timedelta(days=7), training_end=now,
        metadata={"rows": 12345}, promotion=promotion,
    )  # fmt: skip
    metrics = {"roc_auc": 0.712, "pr_auc": float("nan"), "brier": 0.05, "median_lead_h": 6.04, "rows": 900}
    result = registry.RetrainResult("failure_truck", version, False, "worse on roc_auc", metrics=metrics)

    assert retrain_models.result_row(result) == (
        "failure_truck", "failure_truck@4", "2026-05-01 00:00 to 2026-05-08 00:00", "12,345",
        "ROC-AUC 0.712  Brier 0.050  median lead 6.0 h", "no",
        "active version kept: roc_auc 0.712 (active 0.800)",
    )  # fmt: skip


def test_a_worse_candidate_is_recorded_but_the_active_model_stays(tiny_truck_model):
    active = register(tiny_truck_model, "failure_truck", roc_auc=0.8)
    promote, report = registry._decide({"roc_auc": 0.7}, active.metrics, {"roc_auc": True}, force=False)
    candidate = registry.register_model(
        kind="failure_truck", model=tiny_truck_model, metrics={"roc_auc": 0.7}, promotion=report,
        activate=promote, training_start=active.training_start, training_end=active.training_end, sites=[],
        features=[],
    )  # fmt: skip

    assert not promote and not candidate.active
    assert candidate.promotion["by_metric"]["roc_auc"] == {
        "candidate": 0.7, "active": 0.8, "ok": False, "why": "better by -0.1",
    }  # fmt: skip
    assert ModelVersion.objects.get(active=True) == active


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"kind": ["bogus"]}, "--kind: unknown model kind 'bogus'"),
        ({"since": "last week"}, "--since: 'last week' is not a duration"),
    ],
)
def test_the_retrain_command_explains_a_bad_argument_in_one_line(options, message):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=message) as error:
        call_command("retrain_models", **options)
    assert "\n" not in str(error.value)


def test_retraining_without_history_fails_with_a_clear_message():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no site has history"):
        call_command("retrain_models", kind=["anomaly"])


def test_the_beat_schedule_refreshes_every_minute_and_retrains_daily():
    from django_celery_beat.models import PeriodicTask

    refresh = PeriodicTask.objects.get(task="analytics.tasks.refresh_active_sites_task")
    retrain = PeriodicTask.objects.get(task="analytics.tasks.retrain_models_task")
    assert refresh.interval.every == 1 and refresh.interval.period == "minutes" and refresh.enabled
    assert (retrain.crontab.hour, retrain.crontab.minute) == ("3", "0") and retrain.enabled


def test_engineers_queue_a_retrain_and_operators_may_not(monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(retrain_models_task, "delay", lambda *args: queued.append(args))
    assert_error(
        role_client("operator").post("/api/ml/models/retrain", {}, format="json"), 403, "permission_denied"
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = role_client("engineer").post(
            "/api/ml/models/retrain", {"kinds": ["anomaly"]}, format="json"
        )

    assert response.status_code == 202 and queued == [(list(registry.ANOMALY_KINDS), False)]
    bad = role_client("engineer").post("/api/ml/models/retrain", {"kinds": ["nope"]}, format="json")
    assert "nope" in assert_error(bad, 400, "invalid")["kinds.0"][0]  # the list's item is named


def test_metrics_show_the_age_and_validation_of_active_models(tiny_truck_model):
    from smartmine.platform import metrics

    register(tiny_truck_model, "failure_truck", roc_auc=0.81)
    text = metrics.exposition().decode()
    assert 'smartmine_ml_model_age_seconds{kind="failure_truck"}' in text
    assert 'smartmine_ml_model_validation{kind="failure_truck",metric="roc_auc"} 0.81' in text


def test_the_refresh_task_scores_a_site_by_id(site, tiny_truck_model):
    register(tiny_truck_model, "failure_truck")
    assert refresh_predictions_task(site.pk) == {"refreshed": True, "reason": ""}
    assert Prediction.objects.filter(site=site).exists()


def test_a_first_failure_model_with_degenerate_validation_is_kept_inactive_and_says_why(tiny_truck_model):
    from analytics.ml.lifecycle import DEFAULT_RULES, failure_validation_problems

    metrics = {
        "roc_auc": float("nan"),
        "pr_auc": float("nan"),
        "brier": 0.1,
        "ece": 0.02,
        "failure_events": 1,
    }
    promote, report = registry._decide(
        metrics, None, DEFAULT_RULES, force=True, gate=failure_validation_problems
    )
    now = dt.datetime.now(dt.UTC)
    version = registry.register_model(
        kind="failure_loader", model=tiny_truck_model, metrics=metrics, promotion=report, activate=promote,
        training_start=now, training_end=now, sites=[], features=[],
    )  # fmt: skip

    assert not version.active and registry._why(report).startswith("not activated: roc_auc undefined")
    [item] = role_client("engineer").get("/api/ml/models").json()
    assert item["verdict"] == registry._why(report) and "only 1 breakdowns in validation" in item["verdict"]
    assert item["metrics"]["roc_auc"] is None and item["promotion"]["refused"]
