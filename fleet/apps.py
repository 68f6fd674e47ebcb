from functools import partial

from django.apps import AppConfig


class FleetConfig(AppConfig):
    """The site, trucks, loaders, pit zones and haul roads; the simulation tick and the reading history."""

    name = "fleet"
    verbose_name = "Fleet"

    def ready(self) -> None:
        from fleet import hooks, selectors, units
        from fleet.api.serializers import zone_items
        from fleet.choices import LoaderStatus, TruckStatus
        from fleet.models import Loader, MiningZone, Truck, TruckReading, TruckRollup
        from fleet.sim.schema import SENSORS
        from smartmine.platform import live, readmodel

        units.register(
            units.UnitKind(
                "truck",
                Truck,
                "trucks",
                reading=TruckReading,
                rollup=TruckRollup,
                in_service=TruckStatus.WAITING,
                limit_column="fuel_tank_l",
                placeholder={
                    "model": "imported",
                    "rated_payload_t": SENSORS["truck"]["payload_t"].maximum,
                    "fuel_tank_l": SENSORS["truck"]["fuel_l"].maximum,
                    "engine_power_kw": 0.0,
                },
            )
        )
        units.register(units.UnitKind("loader", Loader, "loaders", in_service=LoaderStatus.IDLE))
        live.register_stream("trucks", selectors.fleet_rows)
        live.register_equipment("truck", partial(selectors.site_of, Truck))
        live.register_equipment("loader", partial(selectors.site_of, Loader))
        readmodel.register("trucks", partial(selectors.site_rows, selectors.truck_rows))
        readmodel.register("loaders", partial(selectors.site_rows, selectors.loader_rows))
        readmodel.register("zones", zone_items)
        readmodel.register_site_versions(selectors.site_versions)
        readmodel.invalidate_on_save(Truck, Loader, MiningZone)
        hooks.register_after_commit(readmodel.refresh_safely)
