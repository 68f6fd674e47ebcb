from django.apps import AppConfig


class PlantsConfig(AppConfig):
    """Crushers and the plant equipment they feed."""

    name = "plants"
    verbose_name = "Plants"

    def ready(self) -> None:
        from plants import selectors
        from smartmine.platform import live

        live.register_stream("crushers", selectors.crusher_rows)
        live.register_equipment("crusher", selectors.crusher_site)
