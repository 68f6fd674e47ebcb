import datetime as dt

import pandas as pd
import pytest
from django.db import transaction

from fleet.models import TruckReading
from fleet.readings import IngestResult, ingest_readings
from plants.models import CrusherReading
from stockpiles.models import StockpileReading
from tests.factories import CrusherFactory, StockpileFactory, TruckFactory, reading

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2031, 3, 1, 6, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_it_stores_every_reading_with_its_values():
    truck = TruckFactory()
    rows = [reading("truck", truck.pk, at(5 * i), "hauling", payload_t=200.0 + i) for i in range(10)]

    result = ingest_readings("truck", rows)

    assert result == IngestResult(inserted=10, duplicates=0)
    stored = TruckReading.objects.filter(equipment=truck).order_by("ts")
    assert [r.payload_t for r in stored] == [200.0 + i for i in range(10)]
    assert stored[0].ts == T0 and stored[0].status == "hauling"


def test_re_sent_readings_are_counted_as_duplicates_not_stored_twice():
    truck = TruckFactory()
    first = [reading("truck", truck.pk, at(i), "hauling") for i in range(3)]
    ingest_readings("truck", first)

    result = ingest_readings("truck", [*first[1:], reading("truck", truck.pk, at(10), "dumping")])

    assert result == IngestResult(inserted=1, duplicates=2)
    assert TruckReading.objects.filter(equipment=truck).count() == 4


def test_duplicates_within_one_batch_are_stored_once():
    truck = TruckFactory()
    row = reading("truck", truck.pk, at(0), "loading")

    assert ingest_readings("truck", [row, dict(row)]) == IngestResult(inserted=1, duplicates=1)


def test_it_accepts_a_dataframe():
    crusher = CrusherFactory()
    frame = pd.DataFrame(
        [reading("crusher", crusher.pk, at(i), "running", throughput_tph=1800.0) for i in range(4)]
    )

    assert ingest_readings("crusher", frame).inserted == 4
    assert CrusherReading.objects.filter(equipment=crusher, throughput_tph=1800.0).count() == 4


def test_the_newest_reading_becomes_the_equipment_state():
    truck = TruckFactory(status="waiting")
    rows = [
        reading("truck", truck.pk, at(s), st, payload_t=p)
        for s, st, p in ((10, "hauling", 220.0), (5, "loading", 90.0))
    ]

    ingest_readings("truck", rows)

    truck.refresh_from_db()
    assert (truck.status, truck.payload_t, truck.last_reading_at) == ("hauling", 220.0, at(10))


def test_an_older_reading_never_overwrites_newer_state():
    pile = StockpileFactory()
    ingest_readings("stockpile", [reading("stockpile", pile.pk, at(60), "high", level_t=55_000.0)])

    ingest_readings("stockpile", [reading("stockpile", pile.pk, at(0), "normal", level_t=20_000.0)])

    pile.refresh_from_db()
    assert (pile.status, pile.level_t, pile.last_reading_at) == ("high", 55_000.0, at(60))
    assert StockpileReading.objects.filter(equipment=pile).count() == 2


def test_state_is_left_alone_when_asked():
    truck = TruckFactory(status="waiting")

    ingest_readings("truck", [reading("truck", truck.pk, at(0), "hauling")], update_state=False)

    truck.refresh_from_db()
    assert truck.status == "waiting" and truck.last_reading_at is None


def test_it_writes_in_the_callers_transaction():
    truck = TruckFactory()

    with pytest.raises(RuntimeError), transaction.atomic():
        ingest_readings("truck", [reading("truck", truck.pk, at(0), "hauling")])
        raise RuntimeError("the tick failed after writing readings")

    assert not TruckReading.objects.filter(equipment=truck).exists()


def test_the_caller_can_continue_after_duplicates_in_its_transaction():
    truck = TruckFactory()
    row = reading("truck", truck.pk, at(0), "hauling")
    with transaction.atomic():
        ingest_readings("truck", [row])
        assert ingest_readings("truck", [row]).duplicates == 1
        truck.status = "dumping"
        truck.save()
    assert TruckReading.objects.filter(equipment=truck).count() == 1


def test_naive_timestamps_are_refused():
    truck = TruckFactory()
    with pytest.raises(ValueError, match="timezone-aware"):
        ingest_readings("truck", [reading("truck", truck.pk, dt.datetime(2031, 1, 1), "hauling")])


def test_an_unknown_status_is_refused():
    truck = TruckFactory()
    with pytest.raises(ValueError, match="unknown truck status 'flying'"):
        ingest_readings("truck", [reading("truck", truck.pk, at(0), "flying")])


def test_a_missing_sensor_is_refused():
    truck = TruckFactory()
    row = reading("truck", truck.pk, at(0), "hauling")
    del row["payload_t"]
    with pytest.raises(ValueError, match="payload_t"):
        ingest_readings("truck", [row])


def test_an_empty_batch_writes_nothing():
    assert ingest_readings("truck", []) == IngestResult(0, 0)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown equipment kind"):
        ingest_readings("loader", [])


def test_a_large_fleet_moves_every_truck_to_its_newest_reading():
    from fleet import readings as readings_module
    from fleet.models import Truck

    trucks = TruckFactory.create_batch(readings_module._ARRAY_UPDATE_MAX_ROWS + 4)  # the staging-table path
    rows = [
        reading("truck", truck.pk, at(s), status, payload_t=truck.pk + s)
        for truck in trucks
        for s, status in ((5, "hauling"), (0, "loading"))
    ]

    ingest_readings("truck", rows)

    states = Truck.objects.filter(pk__in=[t.pk for t in trucks]).values_list(
        "pk", "status", "payload_t", "last_reading_at"
    )
    assert all(
        status == "hauling" and payload == pk + 5 and ts == at(5) for pk, status, payload, ts in states
    )


def test_a_large_fleet_ingested_twice_in_one_transaction_moves_to_each_batchs_readings():
    """The staging table outlives a batch: the second batch updates from its own rows, not the first's."""
    from fleet import readings as readings_module
    from fleet.models import Truck

    trucks = TruckFactory.create_batch(readings_module._ARRAY_UPDATE_MAX_ROWS + 4)
    with transaction.atomic():
        for s, status in ((0, "loading"), (5, "hauling")):
            ingest_readings("truck", [reading("truck", t.pk, at(s), status, payload_t=s) for t in trucks])
            states = Truck.objects.filter(pk__in=[t.pk for t in trucks]).values_list("status", "payload_t")
            assert set(states) == {(status, s)}
