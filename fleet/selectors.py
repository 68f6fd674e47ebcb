"""Reads of fleet state shaped for screens and endpoints."""

from __future__ import annotations


def last_tick_age_s() -> float | None:
    """Seconds since the newest tick of any active site; None while no site exists (the domain issue adds sites)."""
    return None
