from django.apps import AppConfig


class StockpilesConfig(AppConfig):
    """Materials and stockpiles: mass balance between crushers and reclaim."""

    name = "stockpiles"
    verbose_name = "Stockpiles"
