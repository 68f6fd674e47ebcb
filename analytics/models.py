"""The models of the analytics app, one module per sub-domain; Django finds them through this module."""

from analytics.alerts.models import Alert, AlertSeverity
from analytics.kpis.models import KpiLedger, KpiLedgerCursor, KpiLedgerSpan
from analytics.recommendations.models import Recommendation, RecommendationPriority, RecommendationStatus
from analytics.scenarios.models import Scenario, ScenarioKind, ScenarioStatus
from analytics.scoring.models import Anomaly, ModelKind, ModelVersion, Prediction, ScoredKind

__all__ = [
    "Alert",
    "AlertSeverity",
    "Anomaly",
    "KpiLedger",
    "KpiLedgerCursor",
    "KpiLedgerSpan",
    "ModelKind",
    "ModelVersion",
    "Prediction",
    "Recommendation",
    "RecommendationPriority",
    "RecommendationStatus",
    "Scenario",
    "ScenarioKind",
    "ScenarioStatus",
    "ScoredKind",
]
