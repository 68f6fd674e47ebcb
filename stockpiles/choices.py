"""Stockpile and material enumerations, from the engine contract (fleet/sim/schema.py)."""

from fleet.choices import text_choices
from fleet.sim import schema

StockpileStatus = text_choices(schema.StockpileStatus)
MaterialKind = text_choices(schema.MaterialKind)
