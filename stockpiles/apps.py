from django.apps import AppConfig


class StockpilesConfig(AppConfig):
    """Materials and stockpiles: mass balance between crushers and reclaim."""

    name = "stockpiles"
    verbose_name = "Stockpiles"

    def ready(self) -> None:
        from smartmine.platform import live
        from stockpiles import selectors

        live.register_stream("stockpiles", selectors.stockpile_rows)
        live.register_equipment("stockpile", selectors.stockpile_site)
