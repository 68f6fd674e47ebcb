from functools import partial

from django.apps import AppConfig


class PlantsConfig(AppConfig):
    """Crushers and the plant equipment they feed."""

    name = "plants"
    verbose_name = "Plants"

    def ready(self) -> None:
        from fleet import units
        from fleet.selectors import site_of, site_rows
        from fleet.sim.schema import SENSORS
        from plants import selectors, services
        from plants.choices import CrusherStatus
        from plants.models import Crusher, CrusherReading, CrusherRollup
        from smartmine.platform import live, readmodel

        units.register(
            units.UnitKind(
                "crusher",
                Crusher,
                "crushers",
                reading=CrusherReading,
                rollup=CrusherRollup,
                in_service=CrusherStatus.IDLE,
                placeholder={
                    "model": "imported",
                    "rated_capacity_tph": SENSORS["crusher"]["throughput_tph"].maximum,
                },
                seed=services.seed_crushers,
            )
        )
        live.register_stream("crushers", selectors.crusher_rows)
        live.register_equipment("crusher", partial(site_of, Crusher))
        readmodel.register("crushers", partial(site_rows, selectors.crusher_rows))
        readmodel.invalidate_on_save(Crusher)
