"""manage.py seed_site: create a realistic mine site from the engine's layout (idempotent)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fleet import schedules, seeding


class Command(BaseCommand):
    help = (
        "Create a site (pit zones, loaders, haul roads, waste dump, crushers feeding stockpiles, trucks) "
        "from fleet.sim.layout. Does nothing if a site with that name exists."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", default=seeding.DEFAULT_SITE_NAME)
        parser.add_argument("--trucks", type=int, default=settings.MAX_TRUCKS)
        parser.add_argument("--crushers", type=int, default=settings.MAX_CRUSHERS)
        parser.add_argument("--stockpiles", type=int, default=settings.MAX_STOCKPILES)
        parser.add_argument("--loaders", type=int, default=None, help="default: one per ~4 trucks")
        parser.add_argument("--seed", type=int, default=7, help="random seed of the layout")

    def handle(self, *args, name, trucks, crushers, stockpiles, loaders, seed, **options) -> None:
        try:
            result = seeding.seed_site(
                name=name, trucks=trucks, crushers=crushers, stockpiles=stockpiles, loaders=loaders, seed=seed
            )
        except ValueError as error:
            raise CommandError(f"cannot seed site {name!r}: {error}") from None
        site = result.site
        schedules.sync_tick_schedules(interval_s=settings.SIMULATION_INTERVAL_S)
        if not result.created:
            self.stdout.write(f"site {site.name!r} ({site.slug}) already exists; nothing changed")
            return
        self.stdout.write(
            f"created site {site.name!r} ({site.slug}): {site.trucks.count()} trucks, {site.loaders.count()} "
            f"loaders, {site.zones.count()} zones, {site.haul_roads.count()} haul roads, "
            f"{site.waste_dumps.count()} waste dumps, {site.crushers.count()} crushers, "
            f"{site.stockpiles.count()} stockpiles"
        )
