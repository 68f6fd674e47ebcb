import json

import pytest

from analytics.alerts.models import Alert
from analytics.alerts.selectors import alert_items
from analytics.alerts.services import acknowledge_alerts
from smartmine.platform import live
from tests.apiclients import assert_error, role_client
from tests.factories import AlertFactory, CrusherFactory, TruckFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_alerts_list_newest_first_with_equipment_kind():
    truck = TruckFactory(name="HT-07")
    AlertFactory(equipment=truck, kind="low_fuel", severity="info")

    body = role_client("viewer").get("/api/alerts").json()

    [alert] = body["results"]
    assert alert["equipment_kind"] == "truck" and alert["equipment_id"] == truck.pk
    assert alert["equipment_name"] == "HT-07" and alert["is_open"] is True
    assert alert["acknowledged_by"] is None


def test_alerts_filter_by_open_severity_and_equipment():
    truck, crusher = TruckFactory(), CrusherFactory()
    critical = AlertFactory(equipment=truck, severity="critical")
    AlertFactory(equipment=crusher, kind="bearing_hot")
    cleared = AlertFactory(equipment=truck, kind="low_fuel")
    Alert.objects.filter(pk=cleared.pk).update(cleared_at=cleared.raised_at)
    viewer = role_client("viewer")

    def ids(query: str) -> set[int]:
        response = viewer.get(f"/api/alerts?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("open=true") == {critical.pk, Alert.objects.get(kind="bearing_hot").pk}
    assert ids("open=false") == {cleared.pk}
    assert ids("severity=critical") == {critical.pk}
    assert ids(f"equipment_kind=truck&equipment_id={truck.pk}") == {critical.pk, cleared.pk}
    assert ids("equipment_kind=crusher") == {Alert.objects.get(kind="bearing_hot").pk}
    assert "severity" in assert_error(viewer.get("/api/alerts?severity=meh"), 400, "invalid")


def test_operators_acknowledge_and_clear_one_alert():
    alert = AlertFactory()
    operator = role_client("operator")

    assert operator.post(f"/api/alerts/{alert.pk}/acknowledge").json() == {"changed": 1}
    assert operator.post(f"/api/alerts/{alert.pk}/acknowledge").json() == {"changed": 0}
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None and alert.is_open

    assert operator.post(f"/api/alerts/{alert.pk}/clear").json() == {"changed": 1}
    alert.refresh_from_db()
    assert not alert.is_open
    assert (
        role_client("viewer").get(f"/api/alerts/{alert.pk}").json()["cleared_by"] == alert.cleared_by.username
    )


def test_operators_acknowledge_and_clear_several_alerts():
    first, second = AlertFactory(), AlertFactory(kind="low_fuel")
    operator = role_client("operator")

    assert operator.post("/api/alerts/acknowledge", {"ids": [first.pk, second.pk]}, format="json").json() == {
        "changed": 2
    }
    assert operator.post("/api/alerts/clear", {"ids": [first.pk]}, format="json").json() == {"changed": 1}
    assert "ids" in assert_error(
        operator.post("/api/alerts/clear", {"ids": []}, format="json"), 400, "invalid"
    )


@pytest.mark.parametrize("role", ["viewer", "gateway"])
def test_viewers_cannot_acknowledge_alerts(role):
    alert = AlertFactory()

    assert_error(role_client(role).post(f"/api/alerts/{alert.pk}/acknowledge"), 403, "permission_denied")
    assert Alert.objects.get(pk=alert.pk).acknowledged_at is None


def test_acknowledging_a_missing_alert_is_404():
    assert_error(role_client("operator").post("/api/alerts/99999/acknowledge"), 404, "not_found")


def test_the_ml_paths_answer_empty_well_formed_pages():
    viewer = role_client("viewer")

    empty = {"count": 0, "next": None, "previous": None, "model_version": None, "results": []}
    assert viewer.get("/api/ml/recommendations/").json() == empty
    # Health predictions also say where the models stand (issue 18): none yet, no bootstrap.
    assert viewer.get("/api/ml/health-prediction").json() == {
        **empty,
        "status": "no_model",
        "bootstrap": None,
        "models": {},
    }


def test_the_alerts_stream_sends_each_alert_as_the_api_lists_it():
    truck = TruckFactory(name="HT-07")
    acknowledged = AlertFactory(equipment=truck, kind="low_fuel", severity="critical")
    AlertFactory(equipment=truck)
    acknowledge_alerts(alerts=[acknowledged], user=UserFactory(username="shift-boss"))

    listed = role_client("viewer").get("/api/alerts").json()["results"]
    sent = json.loads(live.encode({"alerts": alert_items(site_id=truck.site_id)}))["alerts"]

    assert sent == listed and [item["acknowledged_by"] for item in sent] == [None, "shift-boss"]
