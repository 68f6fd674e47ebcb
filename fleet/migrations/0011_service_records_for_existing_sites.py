"""Sites seeded before service records existed get them: each truck, loader and crusher the twin has never
seen repaired is dated from the wear its engine state holds now, as seeding dates a new site's units
(fleet.sim.faults.service_records), so failure risk knows its age (docs/ml.md, "Service records").

Units with a repair or maintenance in the event log already have their age from it and get no record.
Reversing removes only the records this migration wrote.
"""

import datetime as dt

from django.db import migrations

#: Copied, not imported: a migration must not change when the code it was written against does.
WEAR_PER_SERVICE_HOUR = {"truck": 0.87, "loader": 0.76, "crusher": 0.86}
STATE_KEYS = {"truck": "trucks", "loader": "loaders", "crusher": "crushers"}
SERVICED_KINDS = ("repaired", "maintenance_ended", "serviced")
SOURCE = {"source": "maintenance record", "dated_by": "migration 0011"}


def _serviced_at(clock_s: float, kind: str, unit: dict) -> dt.datetime:
    hours_ago = float(unit.get("wear_h", 0.0)) / WEAR_PER_SERVICE_HOUR[kind]
    return dt.datetime.fromtimestamp(round(clock_s - hours_ago * 3600.0), dt.UTC)


def record_services(apps, schema_editor):
    Site = apps.get_model("fleet", "Site")
    SimEvent = apps.get_model("fleet", "SimEvent")
    for site in Site.objects.all().iterator():
        state = site.sim_state or {}
        clock_s = state.get("clock_s")
        if clock_s is None:
            continue  # a site with no engine state (real equipment only): nothing to date from
        known = set(
            SimEvent.objects.filter(site=site, kind__in=SERVICED_KINDS).values_list("unit_kind", "unit_id")
        )
        rows = [
            SimEvent(
                site=site,
                ts=_serviced_at(clock_s, kind, unit),
                kind="serviced",
                unit_kind=kind,
                unit_id=unit["id"],
                data=SOURCE,
            )
            for kind, key in STATE_KEYS.items()
            for unit in state.get(key, [])
            if (kind, unit["id"]) not in known
        ]
        SimEvent.objects.bulk_create(rows, batch_size=2000)


def remove_records(apps, schema_editor):
    SimEvent = apps.get_model("fleet", "SimEvent")
    SimEvent.objects.filter(kind="serviced", data__dated_by=SOURCE["dated_by"]).delete()


class Migration(migrations.Migration):
    dependencies = [("fleet", "0010_vacuum_schedule")]

    operations = [migrations.RunPython(record_services, remove_records)]
