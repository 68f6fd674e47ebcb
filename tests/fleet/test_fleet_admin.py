import datetime as dt

import pytest
from django.contrib import admin
from django.urls import reverse

from fleet.models import Site, Truck, TruckReading
from fleet.readings import ingest_readings
from tests.factories import (
    AlertFactory,
    HaulRoadFactory,
    LoaderFactory,
    SiteFactory,
    TruckFactory,
    WasteDumpFactory,
    engineer,
    operator,
    reading,
)

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2031, 3, 1, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def as_operator(client):
    client.force_login(operator())
    return client


@pytest.fixture
def as_engineer(client):
    client.force_login(engineer())
    return client


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def test_an_operator_can_open_every_list_in_the_control_room(as_operator):
    truck = TruckFactory()
    LoaderFactory(site=truck.site)
    HaulRoadFactory(site=truck.site)
    WasteDumpFactory(site=truck.site)
    AlertFactory(equipment=truck)
    ingest_readings("truck", [reading("truck", truck.pk, T0, "hauling")])

    for model in admin.site._registry:
        if model._meta.app_label in {"fleet", "plants", "stockpiles", "analytics"}:
            response = as_operator.get(changelist(model), follow=True)
            assert response.status_code == 200, model


def test_the_truck_list_shows_status_as_a_badge_and_the_last_reading(as_operator):
    TruckFactory(name="HT-07", status="broken_down")

    page = as_operator.get(changelist(Truck)).content.decode()

    assert "HT-07" in page and "broken down</span>" in page.lower() and "#d32f2f" in page


def test_a_truck_page_shows_its_latest_50_readings_and_open_alerts(as_operator):
    truck = TruckFactory()
    ingest_readings(
        "truck",
        [
            reading("truck", truck.pk, T0 + dt.timedelta(seconds=i), "hauling", payload_t=100 + i)
            for i in range(60)
        ],
    )
    AlertFactory(equipment=truck, kind="low_fuel", message="Fuel under 10 %")
    AlertFactory(equipment=truck, kind="old_problem", cleared_at=T0)

    page = as_operator.get(reverse("admin:fleet_truck_change", args=[truck.pk])).content.decode()

    assert "latest 50 readings" in page.lower()
    assert "159.0" in page and "110.0" in page and "109.0" not in page
    assert "Fuel under 10 %" in page and "old_problem" not in page


def test_an_operator_sends_a_truck_to_maintenance_and_back(as_operator):
    truck = TruckFactory(status="hauling")
    url = changelist(Truck)

    as_operator.post(url, {"action": "send_to_maintenance", "_selected_action": [truck.pk]})
    truck.refresh_from_db()
    assert truck.status == "maintenance"

    as_operator.post(url, {"action": "return_to_service", "_selected_action": [truck.pk]})
    truck.refresh_from_db()
    assert truck.status == "waiting"


def test_a_maintenance_change_reaches_the_simulation_state(as_operator):
    from fleet import seeding

    site = seeding.seed_site(name="Admin pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site
    truck = Truck.objects.filter(site=site).first()

    as_operator.post(changelist(Truck), {"action": "send_to_maintenance", "_selected_action": [truck.pk]})

    engine_trucks = Site.objects.get(pk=site.pk).sim_state["trucks"]
    assert next(unit for unit in engine_trucks if unit["id"] == truck.pk)["status"] == "maintenance"


def test_a_loader_goes_to_maintenance_and_returns_idle(as_operator):
    loader = LoaderFactory(status="loading")
    url = reverse("admin:fleet_loader_changelist")

    as_operator.post(url, {"action": "send_to_maintenance", "_selected_action": [loader.pk]})
    as_operator.post(url, {"action": "return_to_service", "_selected_action": [loader.pk]})

    loader.refresh_from_db()
    assert loader.status == "idle"


def test_an_engineer_pauses_and_resumes_a_site(as_engineer):
    site = SiteFactory()
    url = changelist(Site)

    as_engineer.post(url, {"action": "pause_simulation", "_selected_action": [site.pk]})
    site.refresh_from_db()
    assert site.paused

    as_engineer.post(url, {"action": "resume_simulation", "_selected_action": [site.pk]})
    site.refresh_from_db()
    assert not site.paused


def test_an_operator_cannot_pause_a_site(as_operator):
    site = SiteFactory()

    page = as_operator.get(changelist(Site)).content.decode()
    as_operator.post(changelist(Site), {"action": "pause_simulation", "_selected_action": [site.pk]})

    assert "pause_simulation" not in page
    site.refresh_from_db()
    assert not site.paused


def test_an_operator_cannot_edit_a_truck(as_operator):
    truck = TruckFactory(name="HT-01")

    as_operator.post(reverse("admin:fleet_truck_change", args=[truck.pk]), {"name": "renamed"})

    truck.refresh_from_db()
    assert truck.name == "HT-01"


def test_the_reading_list_opens_on_the_newest_day_without_counting_every_row(
    as_operator, django_assert_max_num_queries
):
    truck = TruckFactory()
    ingest_readings(
        "truck", [reading("truck", truck.pk, T0 + dt.timedelta(days=d), "hauling") for d in range(3)]
    )

    response = as_operator.get(changelist(TruckReading))

    assert response.status_code == 302 and "ts__day=3" in response.url and "ts__month=3" in response.url
    page = as_operator.get(response.url)
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert page.context["cl"].full_result_count is None


def test_the_reading_list_drills_down_by_partition_up_to_today(as_operator):
    truck = TruckFactory()
    first = dt.datetime(
        2026, 1, 1, 6, tzinfo=dt.UTC
    )  # in the past: future (prepared) partitions are not listed
    ingest_readings(
        "truck", [reading("truck", truck.pk, first + dt.timedelta(days=d), "hauling") for d in range(2)]
    )

    page = as_operator.get(changelist(TruckReading) + "?ts__year=2026&ts__month=1").content.decode()

    assert "ts__day=1" in page and "ts__day=2" in page and "ts__day=3" not in page


def test_readings_are_read_only_even_for_engineers(as_engineer):
    truck = TruckFactory()
    ingest_readings("truck", [reading("truck", truck.pk, T0, "hauling")])
    pk = TruckReading.objects.get().pk

    assert as_engineer.get(reverse("admin:fleet_truckreading_add")).status_code == 403
    assert (
        as_engineer.post(reverse("admin:fleet_truckreading_delete", args=[pk]), {"post": "yes"}).status_code
        == 403
    )
    assert TruckReading.objects.count() == 1
