import datetime as dt

import pytest
from django.urls import reverse

from fleet.readings import ingest_readings
from fleet.services import EquipmentStatusError, send_to_maintenance
from tests.factories import MaterialFactory, StockpileFactory, operator, reading

pytestmark = pytest.mark.django_db


def test_the_stockpile_list_shows_level_capacity_and_status(client):
    client.force_login(operator())
    StockpileFactory(name="SP-03", status="full", level_t=59_990, material=MaterialFactory(name="Lump"))

    page = client.get(reverse("admin:stockpiles_stockpile_changelist")).content.decode()

    assert "SP-03" in page and "Lump" in page and "Full</span>" in page


def test_a_stockpile_page_shows_its_latest_readings(client):
    client.force_login(operator())
    pile = StockpileFactory()
    ingest_readings(
        "stockpile",
        [reading("stockpile", pile.pk, dt.datetime(2031, 1, 1, tzinfo=dt.UTC), "normal", level_t=31_234.5)],
    )

    page = client.get(reverse("admin:stockpiles_stockpile_change", args=[pile.pk])).content.decode()

    assert "31234.5" in page


def test_a_stockpile_cannot_be_sent_to_maintenance():
    with pytest.raises(EquipmentStatusError):
        send_to_maintenance(equipment=[StockpileFactory()])
