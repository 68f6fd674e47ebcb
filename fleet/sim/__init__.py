"""The pure simulation engine of a mine site (no Django): state dataclasses in, new state and events out."""

from fleet.sim.layout import default_site
from fleet.sim.state import Event, FaultConfig, SiteState
from fleet.sim.step import StepResult, set_operator_status, step

__all__ = ["Event", "FaultConfig", "SiteState", "StepResult", "default_site", "set_operator_status", "step"]
