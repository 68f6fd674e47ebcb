"""KPIs on a small history computed by hand (docs/kpis.md): one hour, 06:00 to 07:00 UTC."""

import datetime as dt

import pytest

from fleet import readings
from fleet.models import SimEvent
from tests.apiclients import assert_error, role_client
from tests.factories import (
    CrusherFactory,
    LoaderFactory,
    SiteFactory,
    StockpileFactory,
    TruckFactory,
    reading,
)

pytestmark = pytest.mark.django_db


def at(hhmm: str) -> dt.datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return dt.datetime(2025, 3, 1, hours, minutes, tzinfo=dt.UTC)


WINDOW = {"from": "2025-03-01T06:00:00Z", "to": "2025-03-01T07:00:00Z"}

TRUCK_HISTORY = [  # (time, status, fuel L): each status holds until the next reading, at most 5 minutes
    ("05:59", "hauling", 1010),  # before the window: ignored
    ("06:00", "returning", 1000),
    ("06:04", "queued_at_loader", 990),
    ("06:06", "loading", 988),
    ("06:09", "hauling", 985),
    ("06:14", "queued_at_dump", 960),
    ("06:15", "dumping", 959),
    ("06:16", "returning", 958),
    ("06:20", "waiting", 950),
    ("06:22", "maintenance", 950),
    ("06:27", "maintenance", 950),
    ("06:32", "broken_down", 1500),  # refuelled: a rise is not fuel burned; held 18 min, counted 5
    ("06:50", "waiting", 1490),
    ("06:55", "waiting", 1480),  # the last reading holds until the window ends
    ("07:00", "hauling", 1000),  # after the window: ignored
]
CRUSHER_HISTORY = [  # (time, status, throughput t/h)
    ("06:00", "running", 900),
    ("06:05", "running", 1000),
    ("06:10", "idle", 0),
    ("06:15", "maintenance", 0),
    ("06:20", "maintenance", 0),
    ("06:25", "running", 800),
    ("06:30", "blocked", 0),
]


@pytest.fixture
def site():
    site = SiteFactory(slug="kpi-pit")
    loader, other_loader = LoaderFactory(site=site), LoaderFactory(site=site)
    t1, t2 = TruckFactory(site=site, rated_payload_t=200), TruckFactory(site=site, rated_payload_t=200)
    crusher = CrusherFactory(site=site, rated_capacity_tph=1000)
    pile = StockpileFactory(site=site, capacity_t=10_000)
    readings.ingest_readings(
        "truck", [reading("truck", t1.pk, at(t), status, fuel_l=fuel) for t, status, fuel in TRUCK_HISTORY]
    )
    readings.ingest_readings(
        "crusher",
        [
            reading("crusher", crusher.pk, at(t), status, throughput_tph=tph)
            for t, status, tph in CRUSHER_HISTORY
        ],
    )
    readings.ingest_readings(
        "stockpile",
        [
            reading("stockpile", pile.pk, at("06:00"), "normal", level_t=5000, discharge_rate_tph=400),
            reading("stockpile", pile.pk, at("06:30"), "normal", level_t=4000, discharge_rate_tph=600),
            reading("stockpile", pile.pk, at("07:10"), "normal", level_t=100, discharge_rate_tph=9000),
        ],
    )

    def event(kind, truck, hhmm, **data):
        SimEvent.objects.create(
            site=site, ts=at(hhmm), kind=kind, unit_kind="truck", unit_id=truck.pk, data=data
        )

    event("queued", t1, "06:04", at="loader", loader_id=loader.pk)
    event("loaded", t1, "06:09", payload_t=210, rated_payload_t=200, loader_id=loader.pk, material="ore")
    event("queued", t1, "06:14", at="crusher", destination_id=crusher.pk)
    event("dumped", t1, "06:16", payload_t=210, material="ore", destination_kind="crusher")
    event("loaded", t2, "06:30", payload_t=250, rated_payload_t=200, loader_id=loader.pk, material="waste")
    event("dumped", t2, "06:40", payload_t=250, material="waste", destination_kind="dump")
    event(
        "loaded", t2, "06:45", payload_t=180, rated_payload_t=200, loader_id=other_loader.pk, material="ore"
    )
    event(
        "dumped", t2, "07:05", payload_t=999, material="ore", destination_kind="crusher"
    )  # after the window
    other = SiteFactory()
    SimEvent.objects.create(
        site=other, ts=at("06:30"), kind="dumped", unit_kind="truck", unit_id=t2.pk, data={"payload_t": 5.0}
    )
    return site


@pytest.fixture
def kpis(site):
    response = role_client("viewer").get("/api/mining/kpis", {"site": "kpi-pit", **WINDOW})
    assert response.status_code == 200, response.content
    return response.json()


def test_the_window_and_site_are_echoed(kpis, site):
    assert kpis["site"] == {"id": site.pk, "name": site.name, "slug": "kpi-pit"}
    assert kpis["window"]["name"] == "custom" and kpis["window"]["hours"] == 1.0


def test_tonnes_moved_by_material_and_destination_come_from_dump_events(kpis):
    assert kpis["tonnes"] == {
        "ore_t": 210.0, "waste_t": 250.0, "total_t": 460.0, "to_crushers_t": 210.0, "to_waste_dumps_t": 250.0,
        "loads": 3, "dumps": 2,
    }  # fmt: skip
    # per covered hour: the one truck with readings holds 2,820 s of the hour
    assert kpis["production_rate_tph"] == pytest.approx(460 / (2820 / 3600))
    assert kpis["ore_rate_tph"] == pytest.approx(210 / (2820 / 3600))


def test_cycle_time_is_the_sum_of_its_parts_per_dump(kpis):
    assert kpis["truck_cycle"] == pytest.approx(
        {
            "cycles": 2, "queue_at_loader_min": 1.0, "load_min": 1.5, "haul_min": 2.5,
            "queue_at_dump_min": 0.5, "dump_min": 0.5, "return_min": 4.0, "cycle_min": 10.0,
        }
    )  # fmt: skip


def test_queue_time_at_loaders_and_crushers(kpis):
    assert kpis["queue_time"] == pytest.approx(
        {"at_loaders_min": 120 / 3 / 60, "at_crushers_min": 1.0, "at_waste_dumps_min": 0.0}
    )


def test_the_truck_time_usage_model_from_time_in_each_status(kpis):
    # 2,820 truck-seconds: 900 down (600 maintenance + 300 breakdown), 720 waiting (standby), 180 queued
    # (operating delay), 1,020 in the cycle (480 returning, 180 loading, 300 hauling, 60 dumping)
    trucks = kpis["trucks"]
    assert trucks.pop("time_usage_h") == pytest.approx(
        {"calendar": 2820 / 3600, "downtime": 900 / 3600, "planned_downtime": 600 / 3600,
         "unplanned_downtime": 300 / 3600, "available": 1920 / 3600, "standby": 720 / 3600,
         "utilised": 1200 / 3600, "operating_delay": 180 / 3600, "operating": 1020 / 3600}
    )  # fmt: skip
    assert trucks == pytest.approx(
        {"trucks": 2, "truck_hours": 2820 / 3600, "physical_availability_pct": 100 * 1920 / 2820,
         "use_of_availability_pct": 62.5, "utilisation_pct": 62.5,
         "effective_utilisation_pct": 100 * 1200 / 2820, "operating_share_pct": 85.0,
         "coverage_pct": 100 * 2820 / 3600}
    )  # fmt: skip


def test_match_factor(kpis):
    # (2 trucks x 1.0 min to load a truck) / (2 loaders x 10 min cycle)
    assert kpis["match_factor"] == pytest.approx(
        {"value": 0.1, "trucks": 2, "loaders": 2, "loader_cycle_min": 1.0, "truck_cycle_min": 10.0}
    )


def test_payload_compliance_10_10_20(kpis):
    assert kpis["payload_compliance"] == pytest.approx(
        {
            "loads": 3,
            "mean_payload_pct": 320 / 3,
            "over_110_pct": 100 / 3,
            "over_120_pct": 100 / 3,
            "compliant": False,
        }
    )


def test_fuel_per_tonne_counts_drops_not_refuels(kpis):
    assert kpis["fuel"] == pytest.approx({"burned_l": 70.0, "l_per_t": 70 / 460})


def test_crusher_time_usage_throughput_and_oee(kpis):
    # 2,100 s: 900 running, 300 blocked, 300 idle (starved), 600 maintenance; 225 t crushed
    [crusher] = kpis["crushers"]["items"]
    assert crusher["rated_capacity_tph"] == 1000.0
    assert crusher["time_usage_h"] == pytest.approx(
        {"calendar": 2100 / 3600, "downtime": 600 / 3600, "planned_downtime": 600 / 3600,
         "unplanned_downtime": 0.0, "available": 1500 / 3600, "standby": 300 / 3600, "utilised": 1200 / 3600,
         "operating_delay": 300 / 3600, "operating": 900 / 3600}
    )  # fmt: skip
    figures = {
        k: v for k, v in crusher.items() if k not in ("id", "name", "rated_capacity_tph", "time_usage_h")
    }
    assert figures == pytest.approx(
        {
            "tonnes_t": 225.0, "throughput_tph": 225 / (2100 / 3600), "availability_pct": 100 * 1500 / 2100,
            "physical_availability_pct": 100 * 1500 / 2100, "use_of_availability_pct": 80.0,
            "utilisation_pct": 80.0, "effective_utilisation_pct": 100 * 1200 / 2100,
            "operating_share_pct": 75.0, "oee_availability_pct": 60.0, "performance_pct": 90.0,
            "quality_pct": 100.0, "oee_pct": 54.0, "coverage_pct": 100 * 2100 / 3600,
        }
    )  # fmt: skip
    assert kpis["crushers"]["tonnes_t"] == pytest.approx(225.0)
    assert kpis["crushers"]["throughput_tph"] == pytest.approx(225 / (2100 / 3600))  # per covered hour
    assert kpis["crushers"]["oee_pct"] == pytest.approx(54.0)
    assert kpis["crushers"]["oee_losses"]["availability"] == [
        "unplanned_downtime",
        "operating_delay",
        "standby",
    ]


def test_the_window_says_how_much_of_it_holds_data(kpis):
    assert kpis["coverage"] == pytest.approx(
        {"window_hours": 1.0, "covered_hours": 2820 / 3600, "pct": 100 * 2100 / 3600,
         "trucks_pct": 100 * 2820 / 3600, "crushers_pct": 100 * 2100 / 3600, "low": True,
         "note": kpis["coverage"]["note"]}
    )  # fmt: skip
    assert kpis["coverage"]["note"].startswith("only 58.3 % of the 1 h window holds data")


def test_a_fresh_start_reports_its_rate_over_its_minutes_not_the_day():
    site = SiteFactory(slug="fresh-pit")
    truck = TruckFactory(site=site)
    start = at("06:00")
    readings.ingest_readings(
        "truck",
        [
            reading("truck", truck.pk, start + dt.timedelta(minutes=m), "hauling", fuel_l=900)
            for m in range(10)
        ],
    )
    SimEvent.objects.create(
        site=site, ts=start + dt.timedelta(minutes=9), kind="dumped", unit_kind="truck", unit_id=truck.pk,
        data={"payload_t": 100.0, "material": "ore", "destination_kind": "crusher"},
    )  # fmt: skip

    body = (
        role_client("viewer")
        .get(
            "/api/mining/kpis",
            {"site": "fresh-pit", "from": "2025-03-01T00:00:00Z", "to": "2025-03-02T00:00:00Z"},
        )
        .json()
    )

    # ten readings a minute apart hold 9 min + the last one's 5 min: 14 covered minutes of 1,440
    assert body["production_rate_tph"] == pytest.approx(100 / (14 / 60))  # not 4.2 t/h over 24 h
    assert body["coverage"]["covered_hours"] == pytest.approx(14 / 60)
    assert body["coverage"]["trucks_pct"] == pytest.approx(100 * 14 / 1440)
    assert body["coverage"]["low"] is True and "1.0 % of the 24 h window" in body["coverage"]["note"]


def test_stockpile_level_and_hours_of_cover(kpis):
    [pile] = kpis["stockpiles"]["items"]
    assert pile["level_t"] == 4000.0 and pile["mean_reclaim_tph"] == 500.0
    assert pile["hours_of_cover"] == 8.0 and pile["utilisation_pct"] == 40.0
    assert kpis["stockpiles"]["hours_of_cover"] == 8.0


def test_a_window_without_data_gives_nulls_not_zero_divisions(site):
    body = (
        role_client("viewer")
        .get(
            "/api/mining/kpis",
            {"site": site.pk, "from": "2024-01-01T00:00:00Z", "to": "2024-01-01T01:00:00Z"},
        )
        .json()
    )

    assert body["tonnes"]["total_t"] == 0.0
    assert body["truck_cycle"]["cycle_min"] is None
    assert body["fuel"]["l_per_t"] is None
    assert body["payload_compliance"]["compliant"] is None
    assert body["crushers"]["items"] == [] and body["stockpiles"]["items"] == []


def test_named_windows_end_at_the_site_simulated_clock(site):
    site.sim_clock = at("07:00")
    site.save()

    body = role_client("viewer").get("/api/mining/kpis", {"site": site.pk, "window": "24h"}).json()

    assert body["window"]["from"] == "2025-02-28T07:00:00+00:00"
    assert body["tonnes"]["total_t"] == 460.0
    shift = role_client("viewer").get("/api/mining/kpis", {"site": site.pk, "window": "shift"}).json()
    assert shift["window"]["from"] == "2025-03-01T06:00:00+00:00"


def test_the_shift_window_starts_on_the_site_clock(site):
    site.sim_clock, site.timezone = at("07:00"), "Australia/Perth"  # 15:00 in Perth: the day shift
    site.save()

    shift = role_client("viewer").get("/api/mining/kpis", {"site": site.pk, "window": "shift"}).json()

    assert shift["window"]["from"] == "2025-02-28T22:00:00+00:00"  # 06:00 AWST
    assert shift["window"]["timezone"] == "Australia/Perth"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"window": "fortnight"}, "window"),
        ({"from": "2025-03-01T06:00:00Z"}, "to"),
        ({"window": "24h", **WINDOW}, "window"),
        ({"from": "2025-03-01T07:00:00Z", "to": "2025-03-01T06:00:00Z"}, "from"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"}, "from"),
    ],
)
def test_bad_kpi_parameters_are_400(site, query, field):
    assert field in assert_error(role_client("viewer").get("/api/mining/kpis", query), 400, "invalid")


def test_an_unknown_site_is_404():
    assert_error(role_client("viewer").get("/api/mining/kpis", {"site": "nowhere"}), 404, "not_found")
