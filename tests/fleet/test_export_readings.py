import datetime as dt
import gzip
import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from fleet.models import TruckReading
from fleet.readings import ingest_readings
from fleet.sim.schema import SENSORS
from stockpiles.models import StockpileReading
from tests.factories import SiteFactory, StockpileFactory, TruckFactory, reading

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2031, 3, 1, 23, 59, tzinfo=dt.UTC)


def stored(model) -> dict:
    fields = ["equipment__name", "ts", "status", *SENSORS[model.__name__.removesuffix("Reading").lower()]]
    return {(r[0], r[1]): r for r in model.objects.values_list(*fields)}


def random_truck_rows(trucks, n: int) -> list[dict]:
    rng = np.random.default_rng(42)
    rows = []
    for i in range(n):
        values = {name: float(rng.uniform(s.minimum, s.maximum)) for name, s in SENSORS["truck"].items()}
        values["fuel_l"] = float(rng.uniform(0, 4921.0)) * (1 + 1e-16)
        ts = T0 + dt.timedelta(microseconds=int(rng.integers(0, 10**11)))
        rows.append(reading("truck", trucks[i % len(trucks)].pk, ts, "hauling", **values))
    return rows


def test_export_then_import_gives_back_exactly_the_same_readings(tmp_path):
    site = SiteFactory(slug="pit")
    trucks = [TruckFactory(site=site, name=name) for name in ("HT-01", "HT 02, spare", "HT-03")]
    ingest_readings("truck", random_truck_rows(trucks, 300))
    before = stored(TruckReading)
    path = tmp_path / "export.csv.gz"

    call_command("export_readings", "--kind", "truck", "--output", str(path), stdout=io.StringIO())
    TruckReading.objects.all().delete()
    call_command("import_readings", str(path), stdout=io.StringIO())

    assert stored(TruckReading) == before
    assert len(before) == 300


def test_the_export_has_the_import_header_and_utc_microsecond_times():
    pile = StockpileFactory(site=SiteFactory(slug="pit"), name="SP-01")
    ingest_readings(
        "stockpile", [reading("stockpile", pile.pk, T0.replace(microsecond=5), "normal", level_t=0.1)]
    )
    out = io.BytesIO()

    from fleet import selectors

    assert selectors.write_readings_csv(out, kind="stockpile") == 1
    header, line = out.getvalue().decode().splitlines()
    assert (
        header
        == "site,equipment,ts,status,level_t,fill_rate_tph,discharge_rate_tph,utilisation_pct,grade_pct"
    )
    assert line.startswith("pit,SP-01,2031-03-01T23:59:00.000005Z,normal,0.1,")


def test_the_export_can_be_limited_to_a_site_and_a_time_window(tmp_path):
    a, b = SiteFactory(slug="a"), SiteFactory(slug="b")
    pa, pb = StockpileFactory(site=a), StockpileFactory(site=b)
    rows = [
        reading("stockpile", p.pk, T0 + dt.timedelta(hours=h), "normal") for p in (pa, pb) for h in range(4)
    ]
    ingest_readings("stockpile", rows)
    path = tmp_path / "a.csv"

    call_command(
        "export_readings",
        "--kind",
        "stockpile",
        "--site",
        "a",
        "--from",
        "2031-03-02T00:00:00+00:00",
        "--to",
        "2031-03-02T02:00Z",
        "--output",
        str(path),
        stdout=io.StringIO(),
    )

    lines = path.read_text().splitlines()[1:]
    assert [line.split(",")[2] for line in lines] == [
        "2031-03-02T00:59:00.000000Z",
        "2031-03-02T01:59:00.000000Z",
    ]
    assert all(line.startswith("a,") for line in lines)


def test_exporting_an_unknown_site_is_refused():
    with pytest.raises(CommandError, match="no site with slug 'nowhere'"):
        call_command("export_readings", "--site", "nowhere", stdout=io.StringIO())


def test_the_sample_dataset_imports_cleanly():
    from fleet.seeding import seed_site

    seed_site(name="Pilbara demo pit", trucks=15, crushers=3, stockpiles=4)

    call_command("import_readings", "data/dataset.csv", stdout=io.StringIO())

    assert TruckReading.objects.count() > 1000
    assert not StockpileReading.objects.exists()


def test_a_gzip_export_is_compressed(tmp_path):
    truck = TruckFactory(site=SiteFactory(slug="pit"))
    ingest_readings("truck", [reading("truck", truck.pk, T0, "loading")])
    path = tmp_path / "out.csv.gz"

    call_command("export_readings", "--output", str(path), stdout=io.StringIO())

    assert gzip.decompress(path.read_bytes()).decode().count("\n") == 2
