from functools import partial

from django.apps import AppConfig


class StockpilesConfig(AppConfig):
    """Materials and stockpiles: mass balance between crushers and reclaim."""

    name = "stockpiles"
    verbose_name = "Stockpiles"

    def ready(self) -> None:
        from fleet import units
        from fleet.selectors import site_of, site_rows
        from fleet.sim.schema import SENSORS
        from smartmine.platform import live, readmodel
        from stockpiles import selectors, services
        from stockpiles.models import Stockpile, StockpileReading, StockpileRollup

        units.register(
            units.UnitKind(
                "stockpile",
                Stockpile,
                "stockpiles",
                reading=StockpileReading,
                rollup=StockpileRollup,
                setpoints=("reclaim_rate_tph",),
                limit_column="capacity_t",
                placeholder={"capacity_t": SENSORS["stockpile"]["level_t"].maximum},
                seed=services.seed_stockpiles,
            )
        )
        live.register_stream("stockpiles", selectors.stockpile_rows)
        live.register_equipment("stockpile", partial(site_of, Stockpile))
        readmodel.register("stockpiles", partial(site_rows, selectors.stockpile_rows))
        readmodel.invalidate_on_save(Stockpile)
