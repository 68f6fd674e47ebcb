"""manage.py retrain_models: retrain the failure and anomaly models on the stored history, now."""

from __future__ import annotations

import datetime as dt
import re

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from analytics.scoring import registry

_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[hd])$")


def parse_since(value: str) -> dt.datetime | dt.timedelta:
    """'7d', '36h' (back from each site's simulated clock) or an ISO date/time (UTC when no zone is given)."""
    match = _DURATION.match(value.strip())
    if match:
        amount = float(match["n"])
        delta = dt.timedelta(days=amount) if match["unit"] == "d" else dt.timedelta(hours=amount)
        if delta <= dt.timedelta(0):
            raise ValueError(value)
        return delta
    moment = parse_datetime(value) or (
        dt.datetime.combine(dt.date.fromisoformat(value), dt.time()) if len(value) == 10 else None
    )
    if moment is None:
        raise ValueError(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = (
        "Retrain the failure-risk and anomaly models on each site's recent history. A new version becomes "
        "active only if it is no worse than the active one on the same validation data (or with --force)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--kind",
            action="append",
            help="all (default), failure, anomaly, or one of: "
            + ", ".join(registry.ModelKind.values)
            + "; repeat or comma-separate for several",
        )
        parser.add_argument(
            "--since", help="training window: 7d (default), 36h back from each site's clock, or a date"
        )
        parser.add_argument("--force", action="store_true", help="activate the new versions even if worse")

    def handle(self, *args, kind: list[str] | None, since: str | None, force: bool, **options) -> None:
        try:
            kinds = registry.parse_kinds(kind)
        except ValueError as exc:
            raise CommandError(f"--kind: {exc}") from None
        try:
            window = parse_since(since) if since else None
        except ValueError:
            raise CommandError(
                f"--since: {since!r} is not a duration (7d, 36h) or a date (2026-05-01, ISO time)"
            ) from None
        try:
            results = registry.retrain(
                kinds=kinds,
                since=window,
                force=force,
                actor="manage.py retrain_models",
                progress=self.progress,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for result in results:
            if result.version is None:
                self.stdout.write(f"{result.kind}: skipped: {result.reason}")
                continue
            state = "active" if result.promoted else "kept inactive"
            figures = ", ".join(
                f"{name} {value:.3f}"
                for name, value in result.metrics.items()
                if name in ("roc_auc", "pr_auc", "brier", "median_lead_h", "precision", "recall")
                and isinstance(value, float)
            )
            self.stdout.write(
                f"{result.version.label}: {state} ({result.reason}); {figures or 'no validation figures'}; "
                f"{result.seconds:.1f} s"
            )

    def progress(self, message: str) -> None:
        self.stderr.write(message)
        self.stderr.flush()
