"""Materials and stockpiles: the mass balance between crushers (fill) and reclaim (discharge)."""

from __future__ import annotations

from django.db import models

from fleet.models import (
    ROLLUP_SUFFIXES,
    Reading,
    Rollup,
    Site,
    SiteObject,
    reading_unique,
    rollup_unique,
    sensor_columns,
    time_brin,
    unique_name_per_site,
)
from stockpiles.choices import MaterialKind, StockpileStatus


class Material(SiteObject):
    """A material the site handles: an ore grade, waste rock, or a crushed product."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="materials")
    kind = models.CharField(max_length=10, choices=MaterialKind, default=MaterialKind.ORE)
    grade_pct = models.FloatField("grade (%)", default=0.0, help_text="head grade of the payable metal")
    density_t_m3 = models.FloatField("bulk density (t/m3)", default=1.8)

    class Meta(SiteObject.Meta):
        constraints = unique_name_per_site("stockpiles_material")


class Stockpile(sensor_columns("stockpile", default=0.0), SiteObject):
    """A pile of one material, filled by its crusher and reclaimed at a rate operators set."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="stockpiles")
    material = models.ForeignKey(Material, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    capacity_t = models.FloatField("capacity (t)")
    reclaim_rate_tph = models.FloatField(
        "reclaim rate set point (t/h)", default=0.0, help_text="set by operators; the simulator follows it"
    )
    low_pct = models.FloatField("low level (%)", default=10.0, help_text="below this the pile reads LOW")
    high_pct = models.FloatField("high level (%)", default=90.0, help_text="above this the pile reads HIGH")
    lat = models.FloatField("latitude (deg)", default=0.0)
    lon = models.FloatField("longitude (deg)", default=0.0)
    status = models.CharField(
        max_length=16, choices=StockpileStatus, default=StockpileStatus.NORMAL, db_index=True
    )
    last_reading_at = models.DateTimeField(null=True, blank=True)

    class Meta(SiteObject.Meta):
        constraints = unique_name_per_site("stockpiles_stockpile")


class StockpileReading(sensor_columns("stockpile"), Reading):
    """A stockpile's level and flows at one instant."""

    equipment = models.ForeignKey(
        Stockpile,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="readings",
        verbose_name="stockpile",
    )
    status = models.CharField(max_length=16, choices=StockpileStatus)

    class Meta(Reading.Meta):
        constraints = [reading_unique("stockpiles_stockpilereading")]
        indexes = [time_brin("stockpiles_reading_ts_brin")]


class StockpileRollup(sensor_columns("stockpile", suffixes=ROLLUP_SUFFIXES), Rollup):
    """A stockpile's sensors summarised per minute."""

    equipment = models.ForeignKey(
        Stockpile,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="rollups",
        verbose_name="stockpile",
    )

    class Meta(Rollup.Meta):
        constraints = [rollup_unique("stockpiles_stockpilerollup")]
