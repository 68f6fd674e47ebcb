from django.apps import AppConfig


class FleetConfig(AppConfig):
    """The site, trucks, loaders, pit zones and haul roads; the simulation tick and the reading history."""

    name = "fleet"
    verbose_name = "Fleet"

    def ready(self) -> None:
        from fleet import selectors
        from smartmine.platform import live

        live.register_stream("trucks", selectors.fleet_rows)
        live.register_equipment("truck", selectors.truck_site)
        live.register_equipment("loader", selectors.loader_site)
