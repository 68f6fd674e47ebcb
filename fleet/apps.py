from django.apps import AppConfig


class FleetConfig(AppConfig):
    """Trucks, loaders, pit zones and haul roads; owns the simulation tick."""

    name = "fleet"
    verbose_name = "Fleet"
