from functools import partial

from django.apps import AppConfig


class FleetConfig(AppConfig):
    """The site, trucks, loaders, pit zones and haul roads; the simulation tick and the reading history."""

    name = "fleet"
    verbose_name = "Fleet"

    def ready(self) -> None:
        from fleet import selectors, units
        from fleet.choices import LoaderStatus, TruckStatus
        from fleet.models import Loader, Truck, TruckReading, TruckRollup
        from fleet.sim.schema import SENSORS
        from smartmine.platform import live

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
