"""Processing plant equipment: crushers and the stockpile each one feeds."""

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
from plants.choices import CrusherStatus, CrusherType


class Crusher(sensor_columns("crusher", default=0.0), SiteObject):
    """A primary crusher: trucks tip into its feed bin; it crushes up to its rated capacity into a stockpile.

    Sensor columns (throughput_tph, feed_bin_t, efficiency_pct, temperature_c, vibration_mm_s, power_kw,
    liner_wear_pct, health) hold the latest reading.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="crushers")
    crusher_type = models.CharField(max_length=10, choices=CrusherType, default=CrusherType.GYRATORY)
    model = models.CharField(max_length=64, blank=True)
    rated_capacity_tph = models.FloatField("rated capacity (t/h)")
    motor_power_kw = models.FloatField("motor power (kW)", default=0.0)
    feed_bin_capacity_t = models.FloatField("feed bin capacity (t)", default=500.0)
    liner_life_t = models.FloatField("liner life (t)", default=0.0, help_text="tonnes crushed per liner set")
    tip_points = models.PositiveSmallIntegerField(default=1, help_text="trucks tipping at once")
    shift_target_t = models.FloatField("shift target (t)", default=0.0)
    stockpile = models.ForeignKey(
        "stockpiles.Stockpile", null=True, blank=True, on_delete=models.SET_NULL, related_name="crushers"
    )
    status = models.CharField(max_length=16, choices=CrusherStatus, default=CrusherStatus.IDLE, db_index=True)
    lat = models.FloatField("latitude (deg)", default=0.0)
    lon = models.FloatField("longitude (deg)", default=0.0)
    last_reading_at = models.DateTimeField(null=True, blank=True)

    class Meta(SiteObject.Meta):
        constraints = unique_name_per_site("plants_crusher")


class CrusherReading(sensor_columns("crusher"), Reading):
    """A crusher's throughput, feed bin and condition sensors at one instant."""

    equipment = models.ForeignKey(
        Crusher,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="readings",
        verbose_name="crusher",
    )
    status = models.CharField(max_length=16, choices=CrusherStatus)

    class Meta(Reading.Meta):
        constraints = [reading_unique("plants_crusherreading")]
        indexes = [time_brin("plants_crusherreading_ts_brin")]


class CrusherRollup(sensor_columns("crusher", suffixes=ROLLUP_SUFFIXES), Rollup):
    """A crusher's sensors summarised per minute."""

    equipment = models.ForeignKey(
        Crusher,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="rollups",
        verbose_name="crusher",
    )

    class Meta(Rollup.Meta):
        constraints = [rollup_unique("plants_crusherrollup")]
