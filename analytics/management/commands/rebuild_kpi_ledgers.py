"""manage.py rebuild_kpi_ledgers: build the KPI ledgers from raw history (docs/kpis.md)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from analytics.kpis.rebuild import rebuild_site
from fleet.models import Site


class Command(BaseCommand):
    help = (
        "Rebuild the KPI ledgers of a site (or of every site) from its stored readings and events: for "
        "history written before the ledgers existed or imported from CSV. Ticks of the site are skipped "
        "while it runs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--site", help="site id, slug or name (default: every site)")

    def handle(self, *args, site: str | None, **_) -> None:
        sites = Site.objects.order_by("pk")
        if site is not None:
            matches = [row for row in sites if site in (str(row.pk), row.slug, row.name)]
            if not matches:
                raise CommandError(f"--site: no site with id, slug or name {site!r}")
            sites = matches
        for row in sites:
            started = time.perf_counter()
            self.stdout.write(f"{row.name!r}: rebuilding its KPI ledgers")
            totals = rebuild_site(row.pk, progress=lambda line, name=row.name: self.stdout.write(f"  {line}"))
            self.stdout.write(
                f"{row.name!r}: {totals['days']} days, {totals['readings']:,} readings, "
                f"{totals['rows']:,} ledger rows in {time.perf_counter() - started:.1f} s"
            )
