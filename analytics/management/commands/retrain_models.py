"""manage.py retrain_models: retrain the failure and anomaly models on the stored history, now."""

from __future__ import annotations

import datetime as dt
import math
import re

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from analytics.scoring import bootstrap, registry
from analytics.scoring.registry import RetrainResult
from fleet.models import Site

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
        parser.add_argument(
            "--bootstrap",
            metavar="SITE",
            help="train on histories simulated for sites like SITE (id or slug) instead of stored history: "
            "first models for a site with too little history of its own, e.g. a real site (docs/ml.md)",
        )

    def handle(
        self, *args, kind: list[str] | None, since: str | None, force: bool, bootstrap: str | None, **options
    ) -> None:
        try:
            kinds = registry.parse_kinds(kind)
        except ValueError as exc:
            raise CommandError(f"--kind: {exc}") from None
        if bootstrap is not None:
            self.stdout.write(
                format_table(
                    RESULT_COLUMNS, self.run_bootstrap(bootstrap, kinds, since, force), right={"rows"}
                )
            )
            return
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
        rows = [result_row(result) for result in results]
        self.stdout.write(format_table(RESULT_COLUMNS, rows, right={"rows"}))

    def run_bootstrap(
        self, value: str, kinds: list[str], since: str | None, force: bool
    ) -> list[tuple[str, ...]]:
        """The bootstrap path: the same training and gate, on simulated histories; every kind asked for."""
        if since or force:
            raise CommandError("--bootstrap takes neither --since nor --force: it trains on simulated sites")
        lookup = {"pk": int(value)} if value.isdigit() else {"slug": value}
        site = Site.objects.filter(**lookup).first()
        if site is None:
            raise CommandError(f"--bootstrap: no site {value!r} (give its id or slug)")
        bootstrap.mark_queued(site)
        try:
            results = bootstrap.bootstrap(
                site.pk, kinds=kinds, actor="manage.py retrain_models --bootstrap", progress=self.progress
            )
        except bootstrap.BootstrapRunning as exc:
            bootstrap.release(site.pk)
            raise CommandError(str(exc)) from None
        except Exception as exc:
            raise CommandError(f"bootstrap failed, nothing registered: {type(exc).__name__}: {exc}") from None
        return [result_row(result) for result in results]

    def progress(self, message: str) -> None:
        self.stderr.write(message)
        self.stderr.flush()


RESULT_COLUMNS = ("kind", "version", "training window (UTC)", "rows", "validation", "promoted", "why")
#: The validation figures shown, in this order, when measured (the registry stores them all).
SHOWN_FIGURES = {
    "roc_auc": "ROC-AUC {:.3f}",
    "pr_auc": "PR-AUC {:.3f}",
    "brier": "Brier {:.3f}",
    "ece": "ECE {:.3f}",
    "median_lead_h": "median lead {:.1f} h",
    "precision": "precision {:.3f}",
    "recall": "recall {:.3f}",
    "detected_events": "{:d} detected",
}


def result_row(result: RetrainResult) -> tuple[str, ...]:
    """One line of the final table: what was trained on what, how it scored, and the registry's verdict."""
    version = result.version
    if version is None:
        return (result.kind, "-", "-", "-", "-", "no", f"skipped: {result.reason}")
    start, end = (moment.astimezone(dt.UTC) for moment in (version.training_start, version.training_end))
    rows = version.metadata.get("rows")
    return (
        result.kind,
        version.label,
        f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}",
        "-" if rows is None else f"{rows:,}",
        "  ".join(
            shown.format(result.metrics[name])
            for name, shown in SHOWN_FIGURES.items()
            if _measured(result.metrics.get(name))
        )
        or "-",
        "yes" if result.promoted else "no",
        result.reason if result.promoted else why_kept(version.promotion) or result.reason,
    )


def why_kept(promotion: dict) -> str:
    """Why the active version stayed: each figure the candidate lost on, or could not be measured on."""
    lost = [
        f"{name} not measured"
        if verdict["candidate"] is None
        else f"{name} {verdict['candidate']:.3f} (active {verdict['active']:.3f})"
        for name, verdict in promotion.get("by_metric", {}).items()
        if not verdict["ok"]
    ]
    return f"active version kept: {', '.join(lost)}" if lost else ""


def _measured(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_table(headers: tuple[str, ...], rows: list[tuple[str, ...]], *, right: set[str]) -> str:
    """Columns padded to their widest cell (those named in `right` right-aligned), a rule under the header."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    align = [str.rjust if header in right else str.ljust for header in headers]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            pad(cell, width) for pad, cell, width in zip(align, cells, widths, strict=True)
        ).rstrip()

    return "\n".join([line(headers), "  ".join("-" * width for width in widths), *map(line, rows)])
