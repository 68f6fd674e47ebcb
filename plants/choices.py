"""Crusher enumerations: statuses from the engine contract (fleet/sim/schema.py), and crusher types."""

from django.db import models

from fleet.choices import text_choices
from fleet.sim import schema

CrusherStatus = text_choices(schema.CrusherStatus)


class CrusherType(models.TextChoices):
    GYRATORY = "gyratory", "Gyratory"
    JAW = "jaw", "Jaw"
    CONE = "cone", "Cone"
    IMPACT = "impact", "Impact"
