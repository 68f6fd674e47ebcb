"""Admin pages of the analytics app, one module per sub-domain; Django's autodiscovery imports this module,
and each import registers its pages."""

from analytics.alerts import admin as alerts_admin
from analytics.recommendations import admin as recommendations_admin
from analytics.scenarios import admin as scenarios_admin
from analytics.scoring import admin as scoring_admin

__all__ = ["alerts_admin", "recommendations_admin", "scenarios_admin", "scoring_admin"]
