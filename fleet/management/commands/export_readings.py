"""manage.py export_readings: write readings as CSV in the format import_readings reads."""

import datetime as dt
import gzip
import sys
from contextlib import nullcontext

from django.core.management.base import BaseCommand, CommandError

from fleet import selectors
from fleet.models import Site
from fleet.sim.schema import EQUIPMENT_KINDS


def _when(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = "Export readings of one equipment kind as CSV (docs/data-format.md); a .gz output is compressed."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--kind", choices=EQUIPMENT_KINDS, default="truck")
        parser.add_argument("--site", help="site slug (default: every site)")
        parser.add_argument(
            "--from", dest="start", type=_when, help="from this time (inclusive; UTC if no zone)"
        )
        parser.add_argument("--to", dest="end", type=_when, help="up to this time (exclusive)")
        parser.add_argument("--output", "-o", help="output file (default: standard output)")

    def handle(self, *args, kind: str, site: str | None, start, end, output: str | None, **options) -> None:
        if site is not None and not Site.objects.filter(slug=site).exists():
            raise CommandError(f"no site with slug {site!r}")
        opener = gzip.open if output and output.endswith(".gz") else open
        try:
            with nullcontext(sys.stdout.buffer) if output is None else opener(output, "wb") as out:
                rows = selectors.write_readings_csv(out, kind=kind, site=site, start=start, end=end)
        except OSError as error:
            raise CommandError(f"cannot write {output}: {error.strerror or error}") from None
        if output is not None:
            self.stdout.write(f"{output}: {rows} {kind} readings")
