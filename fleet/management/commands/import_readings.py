"""manage.py import_readings PATH: load a reading CSV (optionally gzip), all or nothing."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from fleet import ingest
from fleet.sim.schema import EQUIPMENT_KINDS

#: Files smaller than this import in a blink; no progress bar for them.
PROGRESS_FROM_BYTES = 5_000_000


class Command(BaseCommand):
    help = (
        "Import readings from a CSV file (plain or gzip; format in docs/data-format.md). All or nothing: any "
        "bad row and nothing is written; readings already stored are skipped and counted as duplicates."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="CSV file, optionally gzip-compressed")
        parser.add_argument("--kind", choices=[*EQUIPMENT_KINDS, "auto"], default="auto")
        parser.add_argument(
            "--create-missing", action="store_true", help="create unknown equipment (in existing sites)"
        )
        parser.add_argument("--dry-run", action="store_true", help="check and count, then roll back")

    def handle(self, *args, path: str, kind: str, create_missing: bool, dry_run: bool, **options) -> None:
        size = Path(path).stat().st_size if Path(path).is_file() else 0
        bar_file = getattr(self.stderr, "_out", self.stderr)  # the raw stream: the bar rewrites its own line
        with tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc="import",
            disable=size < PROGRESS_FROM_BYTES,
            leave=False,
            file=bar_file,
        ) as bar:

            def progress(position: int) -> None:
                bar.update(position - bar.n)

            try:
                report = ingest.import_readings_csv(
                    path=path, kind=kind, create_missing=create_missing, dry_run=dry_run, progress=progress
                )
            except ingest.ImportFailed as error:
                raise CommandError(str(error)) from None
        verb = "would import" if dry_run else "imported"
        self.stdout.write(
            f"{path}: {verb} {report.inserted} {report.kind} readings of {report.rows} rows; "
            f"{report.duplicates} duplicates skipped"
        )
        if report.created_equipment:
            created = ", ".join(report.created_equipment)
            self.stdout.write(f"{'would create' if dry_run else 'created'} equipment: {created}")
