import datetime as dt

import pytest
from django.urls import reverse

from fleet.readings import ingest_readings
from tests.factories import AlertFactory, CrusherFactory, StockpileFactory, operator, reading

pytestmark = pytest.mark.django_db


def test_a_crusher_page_shows_its_readings_and_open_alerts(client):
    client.force_login(operator())
    crusher = CrusherFactory(stockpile=StockpileFactory())
    ingest_readings(
        "crusher",
        [
            reading(
                "crusher",
                crusher.pk,
                dt.datetime(2031, 1, 1, tzinfo=dt.UTC),
                "running",
                throughput_tph=1777.5,
            )
        ],
    )
    AlertFactory(equipment=crusher, kind="liner_worn", message="Liner at 92 %")

    page = client.get(reverse("admin:plants_crusher_change", args=[crusher.pk])).content.decode()

    assert "1777.5" in page and "Liner at 92 %" in page


def test_an_operator_sends_a_crusher_to_maintenance_and_back_to_idle(client):
    client.force_login(operator())
    crusher = CrusherFactory(status="running")
    url = reverse("admin:plants_crusher_changelist")

    client.post(url, {"action": "send_to_maintenance", "_selected_action": [crusher.pk]})
    crusher.refresh_from_db()
    assert crusher.status == "maintenance"

    client.post(url, {"action": "return_to_service", "_selected_action": [crusher.pk]})
    crusher.refresh_from_db()
    assert crusher.status == "idle"


def test_the_crusher_list_shows_throughput_and_status(client):
    client.force_login(operator())
    CrusherFactory(name="CR-09", status="blocked", throughput_tph=0)

    page = client.get(reverse("admin:plants_crusher_changelist")).content.decode()

    assert "CR-09" in page and "Blocked</span>" in page
