import datetime as dt

import pytest
from django.db import connection

from fleet import partitions, readings, tasks
from fleet.models import TruckReading, TruckRollup
from tests.factories import TruckFactory, reading

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def partitions_of(table: str) -> list[str]:
    return partitions.partitions(table)


def test_reading_tables_are_range_partitioned_by_time():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_partkeydef(c.oid) "
            "FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        )
        keys = dict(cursor.fetchall())
    assert keys["fleet_truckreading"] == "RANGE (ts)"
    assert keys["plants_crusherreading"] == "RANGE (ts)"
    assert keys["stockpiles_stockpilereading"] == "RANGE (ts)"
    assert keys["fleet_truckrollup"] == "RANGE (bucket)"


def test_reading_tables_have_a_brin_on_time_and_a_unique_equipment_time_index():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'fleet_truckreading'")
        definitions = [row[0] for row in cursor.fetchall()]
    assert any("USING brin (ts)" in d for d in definitions)
    assert any("UNIQUE INDEX" in d and "(equipment_id, ts)" in d for d in definitions)


def test_a_batch_across_midnight_lands_in_two_daily_partitions_created_on_demand():
    truck = TruckFactory()
    before, after = (
        dt.datetime(2031, 5, 1, 23, 59, 58, tzinfo=UTC),
        dt.datetime(2031, 5, 2, 0, 0, 2, tzinfo=UTC),
    )

    readings.ingest_readings(
        "truck", [reading("truck", truck.pk, before, "hauling"), reading("truck", truck.pk, after, "hauling")]
    )

    names = partitions_of("fleet_truckreading")
    assert {"fleet_truckreading_p20310501", "fleet_truckreading_p20310502"} <= set(names)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM fleet_truckreading_p20310502")
        assert cursor.fetchone()[0] == 1
    assert TruckReading.objects.filter(equipment=truck).count() == 2


def test_expired_partitions_are_dropped_whole_and_recent_ones_kept():
    truck = TruckFactory()
    now = dt.datetime(2031, 6, 30, 12, tzinfo=UTC)
    old, recent = now - dt.timedelta(days=40), now - dt.timedelta(days=2)
    readings.ingest_readings("truck", [reading("truck", truck.pk, t, "hauling") for t in (old, recent)])

    dropped = partitions.drop_expired_partitions(now=now, readings_days=30)

    assert f"fleet_truckreading_p{old:%Y%m%d}" in dropped
    assert f"fleet_truckreading_p{recent:%Y%m%d}" in partitions_of("fleet_truckreading")
    assert list(TruckReading.objects.values_list("ts", flat=True)) == [recent]


def test_partitions_are_created_a_week_ahead_for_every_table():
    created = partitions.create_partitions_ahead(today=dt.date(2032, 2, 27), days_ahead=7)

    assert "fleet_truckreading_p20320305" in created
    assert "stockpiles_stockpilereading_p20320227" in created
    assert {"plants_crusherrollup_p203202", "plants_crusherrollup_p203203"} <= set(created)
    assert partitions.create_partitions_ahead(today=dt.date(2032, 2, 27), days_ahead=7) == []


def test_the_maintenance_task_creates_ahead_and_drops_expired():
    partitions.ensure_reading_partitions("truck", [dt.date(2000, 1, 1)])

    result = tasks.maintain_partitions_task()

    assert "fleet_truckreading_p20000101" in result["dropped"]
    today = dt.datetime.now(UTC).date()
    assert f"fleet_truckreading_p{today:%Y%m%d}" in partitions_of("fleet_truckreading")


def test_rollups_hold_avg_min_max_per_minute_and_recompute_late_readings():
    truck = TruckFactory()
    minute = dt.datetime(2031, 7, 1, 8, 30, tzinfo=UTC)
    rows = [
        reading("truck", truck.pk, minute + dt.timedelta(seconds=s), "hauling", payload_t=p)
        for s, p in ((5, 100.0), (35, 200.0))
    ]
    readings.ingest_readings("truck", rows)

    readings.rollup_readings("truck", start=minute, end=minute + dt.timedelta(minutes=1))
    readings.ingest_readings(
        "truck", [reading("truck", truck.pk, minute + dt.timedelta(seconds=50), "hauling", payload_t=30.0)]
    )
    readings.rollup_readings("truck", start=minute, end=minute + dt.timedelta(minutes=1))

    rollup = TruckRollup.objects.get(equipment=truck, bucket=minute)
    assert rollup.samples == 3
    assert (rollup.payload_t_min, rollup.payload_t_avg, rollup.payload_t_max) == (30.0, 110.0, 200.0)


def test_the_rollup_task_summarises_the_last_minutes():
    truck = TruckFactory()
    now = dt.datetime.now(UTC).replace(second=0, microsecond=0)
    readings.ingest_readings("truck", [reading("truck", truck.pk, now - dt.timedelta(seconds=90), "loading")])

    assert tasks.rollup_readings_task() >= 1
    assert TruckRollup.objects.filter(equipment=truck).count() == 1
