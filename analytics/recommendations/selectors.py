"""Reads of recommendations: the open ones of a site, and the ai stream snapshot."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from analytics.payloads import recommendation_item
from analytics.recommendations.models import Recommendation, RecommendationStatus


def open_recommendations(site_id: int) -> QuerySet[Recommendation]:
    return Recommendation.objects.filter(site_id=site_id, status=RecommendationStatus.NEW)


def recommendation_snapshot(*, site_id: int, ids: list[int] | None = None) -> list[dict[str, Any]]:
    """The ai stream snapshot: the site's open recommendations, most urgent first."""
    priority = {"high": 0, "medium": 1, "low": 2}
    recs = sorted(open_recommendations(site_id), key=lambda r: (priority.get(r.priority, 3), -r.pk))
    return [recommendation_item(rec) for rec in recs]
