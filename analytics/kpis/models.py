"""KPI ledgers: per site, unit and hour, what the KPIs are made of (analytics.kpis.ledger, docs/kpis.md)."""

from __future__ import annotations

from django.db import models

from analytics.kpis.ledger import COUNT_COLUMNS, SUM_COLUMNS, UNIT_KINDS
from fleet.models import Site


def _ledger_fields() -> dict[str, models.Field]:
    fields: dict[str, models.Field] = {name: models.BigIntegerField(default=0) for name in COUNT_COLUMNS}
    fields.update({name: models.FloatField(default=0.0) for name in SUM_COLUMNS})
    return fields


class KpiLedger(models.Model):
    """One unit's hour: seconds per status, queue seconds by destination, fuel burned, tonnes crushed, the
    haul events it took part in and the payload bands of its loads. The tick, telemetry ingest and
    `simulate` add to it in the transaction that writes the readings; `rebuild_kpi_ledgers` rebuilds it."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField(help_text="start of the hour (UTC)")
    unit_kind = models.CharField(max_length=16, choices=[(kind, kind) for kind in UNIT_KINDS])
    unit_id = models.BigIntegerField()
    locals().update(_ledger_fields())

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "hour", "unit_kind", "unit_id"], name="kpi_ledger_unit_hour"
            )
        ]

    def __str__(self) -> str:
        return f"{self.unit_kind} {self.unit_id} at {self.hour:%Y-%m-%d %H:00}"


class KpiLedgerCursor(models.Model):
    """A unit's latest reading the ledger has seen: the next reading adds the time this one held."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    unit_kind = models.CharField(max_length=16)
    unit_id = models.BigIntegerField()
    ts = models.DateTimeField()
    status = models.CharField(max_length=32, blank=True)
    fuel_l = models.FloatField(null=True)
    throughput_tph = models.FloatField(null=True)
    queue_at = models.CharField(max_length=16, null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["unit_kind", "unit_id"], name="kpi_ledger_cursor_unit")
        ]

    def __str__(self) -> str:
        return f"{self.unit_kind} {self.unit_id} read at {self.ts:%Y-%m-%d %H:%M:%S}"


class KpiLedgerSpan(models.Model):
    """From when a site's ledgers are complete: earlier windows are read from raw history. A backfill
    (`simulate` before existing history) is tracked until it meets `since`, which then moves back to it."""

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField()
    backfill_from = models.DateTimeField(null=True)
    backfill_to = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"site {self.site_id}'s ledgers since {self.since:%Y-%m-%d %H:%M}"
