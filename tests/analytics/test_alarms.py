"""Alarm rules at the edge: seeded rules, transitions persisted from steps, acknowledge, shelve, figures."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from analytics.alerts import alarms
from analytics.alerts.defaults import DEFAULT_RULES
from analytics.alerts.models import AlarmRule, AlarmState, Alert
from fleet import hooks, seeding
from fleet.ticking import StepRecord, tick_site
from smartmine.platform.models import AuditAction, AuditEntry
from tests.apiclients import role_client
from tests.factories import TruckFactory, reading

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2031, 3, 1, 6, 0, tzinfo=dt.UTC).timestamp()


@pytest.fixture(autouse=True)
def _fresh_engines():
    alarms.forget()
    yield
    alarms.forget()


def save_step(site, clock_s: float, trucks: list[dict]) -> None:
    """What save_steps hands the hook for one step, then the tick number moves on as save_steps does."""
    record = StepRecord(clock_s, {"truck": trucks}, [], [], {"alarms": {"live": {}}})
    alarms.evaluate_steps(site, [record], SimpleNamespace(trucks=[]))
    site.tick += 1


def test_the_default_rules_are_seeded_and_valid():
    rules = AlarmRule.objects.all()
    assert {rule.code for rule in rules} == {spec["code"] for spec in DEFAULT_RULES}
    assert {rule.kind for rule in rules} == set(AlarmRule.Kind.values)
    for rule in rules:
        rule.full_clean()


def test_a_bad_rule_is_refused_in_admin_naming_the_field():
    rule = AlarmRule(code="bad", name="bad", kind="sensor_threshold", unit_kind="truck",
                     field="engine_temp_c", comparison=">=", limit=None, explanation="x",
                     operator_action="y")  # fmt: skip
    with pytest.raises(Exception, match="needs a finite limit"):
        rule.full_clean()


def test_a_breakdown_raises_one_alarm_while_it_lasts_and_clears_when_repaired():
    truck = TruckFactory(name="HT-02")
    site = truck.site
    for i in range(3):
        save_step(site, T0 + 10 * i, [{"id": truck.pk, "status": "broken_down"}])
    [alarm] = Alert.objects.filter(kind="truck_breakdown")
    assert alarm.is_open and alarm.rule.code == "truck_breakdown" and alarm.equipment_name == "HT-02"
    assert alarm.state == AlarmState.UNACKNOWLEDGED and alarm.severity == "critical"
    assert "Call maintenance" in alarm.message  # the rule's operator action travels with it

    save_step(site, T0 + 30, [{"id": truck.pk, "status": "hauling"}])
    alarm.refresh_from_db()
    assert alarm.cleared_at == dt.datetime.fromtimestamp(T0 + 30, dt.UTC)
    assert alarm.state == AlarmState.RTN_UNACKNOWLEDGED  # cleared alarms stay, waiting for acknowledgement

    save_step(site, T0 + 40, [{"id": truck.pk, "status": "broken_down"}])
    assert Alert.objects.filter(kind="truck_breakdown").count() == 2  # a new occurrence, history kept


def test_a_new_worker_process_restores_open_alarms_instead_of_raising_them_again():
    truck = TruckFactory()
    site = truck.site
    save_step(site, T0, [{"id": truck.pk, "status": "broken_down"}])
    alarms.forget()  # another process: no engine in memory
    site.tick += 5  # and the tick number does not continue the cached one
    save_step(site, T0 + 60, [{"id": truck.pk, "status": "broken_down"}])
    assert Alert.objects.filter(kind="truck_breakdown").count() == 1
    save_step(site, T0 + 70, [{"id": truck.pk, "status": "waiting"}])
    assert not Alert.objects.get(kind="truck_breakdown").is_open


def test_a_disabled_rule_raises_nothing():
    AlarmRule.objects.filter(code="truck_breakdown").update(enabled=False)
    truck = TruckFactory()
    save_step(truck.site, T0, [{"id": truck.pk, "status": "broken_down"}])
    assert not Alert.objects.exists()


def test_every_saved_tick_reaches_the_alarm_hook_with_its_captured_queues(monkeypatch):
    site = seeding.seed_site(name="Alarm pit", trucks=4, crushers=1, stockpiles=1, loaders=2).site
    seen = []
    monkeypatch.setattr(hooks, "_after_steps", [lambda s, records, state: seen.append(records)])
    outcome = tick_site(site.pk, dt_s=10.0)
    assert outcome.applied
    [[record]] = seen
    assert set(record.captured["alarms"]) == {"loader", "crusher", "live"}


def test_a_real_tick_with_the_default_rules_writes_no_alarm_for_a_healthy_site():
    site = seeding.seed_site(name="Calm pit", trucks=4, crushers=1, stockpiles=1, loaders=2).site
    assert tick_site(site.pk, dt_s=10.0).applied
    assert not Alert.objects.filter(kind="truck_breakdown").exists()


def test_operators_shelve_an_alarm_with_a_reason_audited_and_its_next_raise_stays_shelved():
    truck = TruckFactory()
    site = truck.site
    save_step(site, T0, [{"id": truck.pk, "status": "broken_down"}])
    alarm = Alert.objects.get()
    operator = role_client("operator")

    refused = operator.post(f"/api/alerts/{alarm.pk}/shelve", {"minutes": 30}, format="json")
    assert refused.status_code == 400 and "reason" in refused.content.decode()
    assert role_client("viewer").post(f"/api/alerts/{alarm.pk}/shelve", {}, format="json").status_code == 403

    body = {"minutes": 30, "reason": "known: recovery truck on its way"}
    assert operator.post(f"/api/alerts/{alarm.pk}/shelve", body, format="json").json() == {"changed": 1}
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.SHELVED and alarm.shelved_reason == body["reason"]
    entry = AuditEntry.objects.get(action=AuditAction.SHELVE_ALERT)
    assert entry.detail["reason"] == body["reason"]

    Alert.objects.filter(pk=alarm.pk).update(cleared_at=alarm.raised_at)
    alarms.forget()
    save_step(site, T0 + 20, [{"id": truck.pk, "status": "broken_down"}])
    again = Alert.objects.get(cleared_at__isnull=True)
    assert again.shelved_until == alarm.shelved_until and not again.annunciated


def test_acknowledging_a_returned_to_normal_alarm_makes_it_normal():
    truck = TruckFactory()
    save_step(truck.site, T0, [{"id": truck.pk, "status": "broken_down"}])
    save_step(truck.site, T0 + 10, [{"id": truck.pk, "status": "waiting"}])
    alarm = Alert.objects.get()
    assert role_client("operator").post(f"/api/alerts/{alarm.pk}/acknowledge").json() == {"changed": 1}
    alarm.refresh_from_db()
    assert alarm.state == AlarmState.NORMAL


def test_the_performance_endpoint_gives_the_isa_figures_of_a_site():
    truck = TruckFactory()
    for i in range(4):  # four raises of one alarm inside a minute: chattering
        save_step(truck.site, T0 + 15 * i, [{"id": truck.pk, "status": "broken_down"}])
        save_step(truck.site, T0 + 15 * i + 5, [{"id": truck.pk, "status": "waiting"}])
    end = dt.datetime.fromtimestamp(T0 + 3600, dt.UTC)
    figures = alarms_performance(truck.site.pk, end)
    assert figures["annunciated"] == 4 and figures["per_hour_per_operator"] == 4.0
    assert len(figures["chattering"]) == 1
    response = role_client("viewer").get(f"/api/alerts/performance?site={truck.site.pk}&hours=2")
    assert response.status_code == 200 and {"peak_10min", "flood_windows", "standing"} <= set(response.json())
    by_slug = role_client("viewer").get(f"/api/alerts/performance?site={truck.site.slug}&hours=2")
    assert by_slug.json() == response.json()
    assert role_client("viewer").get("/api/alerts/performance?site=no-such-pit").status_code == 404
    assert role_client("viewer").get("/api/alerts/performance?site=a.b").status_code == 400


def alarms_performance(site_id: int, end: dt.datetime) -> dict:
    from analytics.alerts.selectors import alarm_performance

    return alarm_performance(site=site_id, hours=1, end=end).as_dict()


def test_live_truck_fuel_is_compared_as_a_share_of_its_own_tank():
    from fleet.ingest import ingest_telemetry

    big, small = TruckFactory(fuel_tank_l=4921.0), TruckFactory(fuel_tank_l=1137.0)
    start = dt.datetime.fromtimestamp(T0, dt.UTC)

    def batch(seconds: int) -> list[dict]:
        ts = start + dt.timedelta(seconds=seconds)
        sensors = {"fuel_l": 300.0, "engine_temp_c": 90.0, "tyre_pressure_kpa": 700.0, "vibration_mm_s": 2.0}
        rows = [reading("truck", truck.pk, ts, "hauling", **sensors) for truck in (big, small)]
        return [{"kind": "truck", **row, "ts": ts.isoformat()} for row in rows]

    for seconds in (0, 70):  # past the fuel rule's 60 s on-delay
        report = ingest_telemetry(items=batch(seconds), now=start)
        assert report.accepted == 2, report.rejected
    low = Alert.objects.get(kind="truck_fuel_low", cleared_at__isnull=True)
    assert low.equipment_id == big.pk  # 300 L is 6 % of 4,921 L but 26 % of 1,137 L
    assert low.last_value == pytest.approx(100 * 300 / 4921)


def test_an_evaluation_that_fails_midway_is_not_continued_by_the_next_tick(monkeypatch):
    truck = TruckFactory()
    site = truck.site
    save_step(site, T0, [{"id": truck.pk, "status": "broken_down"}])
    evaluate = alarms.engine.AlarmEngine.evaluate

    def evaluate_then_fail(self, *args, **kwargs):
        evaluate(self, *args, **kwargs)  # the engine has cleared the alarm in memory ...
        raise RuntimeError("a bug after the engine moved on")  # ... and the tick rolls back

    monkeypatch.setattr(alarms.engine.AlarmEngine, "evaluate", evaluate_then_fail)
    with pytest.raises(RuntimeError):
        save_step(site, T0 + 10, [{"id": truck.pk, "status": "hauling"}])
    monkeypatch.undo()
    save_step(site, T0 + 20, [{"id": truck.pk, "status": "hauling"}])
    assert not Alert.objects.get(kind="truck_breakdown").is_open  # the clear is persisted, not lost


def test_a_risk_score_raises_one_alarm_updates_it_and_clears_when_the_risk_drops(
    django_capture_on_commit_callbacks,
):
    truck = TruckFactory(name="HT-07")
    site, at = truck.site, dt.datetime.fromtimestamp(T0, dt.UTC)
    key = ("truck", truck.pk)
    with django_capture_on_commit_callbacks() as sent:
        raised = alarms.evaluate_scores(site.pk, "ml_risk", {key: 0.85}, at)
    again = alarms.evaluate_scores(site.pk, "ml_risk", {key: 0.86}, at + dt.timedelta(minutes=1))
    [alarm] = Alert.objects.filter(kind="truck_failure_risk")
    assert raised == [alarm.pk] and again == [] and len(sent) == 1 and alarm.is_open
    assert alarm.rule.kind == "ml_risk" and alarm.last_value == 0.85

    held = alarms.evaluate_scores(site.pk, "ml_risk", {key: 0.75}, at + dt.timedelta(minutes=2))  # deadband
    cleared = alarms.evaluate_scores(site.pk, "ml_risk", {key: 0.4}, at + dt.timedelta(minutes=3))

    assert held == [] and cleared == [alarm.pk]
    assert Alert.objects.filter(kind="truck_failure_risk").count() == 1
    assert not Alert.objects.get(pk=alarm.pk).is_open


def test_an_open_risk_alarm_survives_a_new_worker_without_a_duplicate():
    truck = TruckFactory()
    at = dt.datetime.fromtimestamp(T0, dt.UTC)
    alarms.evaluate_scores(truck.site.pk, "ml_risk", {("truck", truck.pk): 0.9}, at)
    alarms.forget()  # another process: the engine is rebuilt from the open alarms
    alarms.evaluate_scores(
        truck.site.pk, "ml_risk", {("truck", truck.pk): 0.95}, at + dt.timedelta(minutes=1)
    )
    assert Alert.objects.filter(kind="truck_failure_risk").count() == 1


def test_an_anomaly_score_goes_through_the_anomaly_rule_and_a_bad_kind_is_refused():
    truck = TruckFactory()
    at = dt.datetime.fromtimestamp(T0, dt.UTC)
    alarms.evaluate_scores(truck.site.pk, "anomaly", {("truck", truck.pk): 2.5}, at)
    assert Alert.objects.get().kind == "truck_sensor_anomaly"
    alarms.evaluate_scores(truck.site.pk, "anomaly", {("truck", truck.pk): 0.0}, at + dt.timedelta(minutes=1))
    assert not Alert.objects.get().is_open
    with pytest.raises(ValueError, match="'queue' is not an ML rule kind"):
        alarms.evaluate_scores(truck.site.pk, "queue", {}, at)
