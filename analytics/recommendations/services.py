"""Writes of recommendations: raise (deduplicated per site, kind and subject), accept, dismiss, expire;
each change is broadcast as `ai_recommendation` after commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from analytics.payloads import recommendation_item
from analytics.recommendations.models import Recommendation, RecommendationPriority, RecommendationStatus
from fleet.models import Site
from smartmine.platform import audit, live
from smartmine.platform.models import AuditAction

#: A recommendation not raised again within this long expires (the engine re-raises live ones each refresh).
RECOMMENDATION_TTL = dt.timedelta(hours=2)
#: After an operator accepts or dismisses one, the same advice on the same subject is not raised again for
#: this long: the operator has answered it, and asking every minute would be noise.
DECISION_QUIET = dt.timedelta(hours=4)
_PRIORITY_RANK = {p: i for i, p in enumerate(RecommendationPriority.values)}


def _publish_recommendations(recs: list[Recommendation]) -> None:
    by_site: dict[int, list[dict]] = {}
    for rec in recs:
        by_site.setdefault(rec.site_id, []).append(recommendation_item(rec))
    for site_id, items in by_site.items():
        live.publish_on_commit(site_id, {"ai_recommendation": items})


@transaction.atomic
def upsert_recommendation(
    *,
    site: Site,
    kind: str,
    subject: str,
    title: str,
    reasoning: str,
    expected_impact: str,
    priority: str = RecommendationPriority.MEDIUM,
    impact_t: float | None = None,
    impact_h: float | None = None,
    data: dict | None = None,
    ttl: dt.timedelta = RECOMMENDATION_TTL,
) -> tuple[Recommendation | None, bool]:
    """Raise advice about `subject` (e.g. "truck:12", "site"); returns (recommendation, created).

    An open (new) recommendation of the same site, kind and subject is updated in place and its expiry
    pushed back, never duplicated. Advice on a subject an operator decided within DECISION_QUIET is not
    raised again: returns (None, False). New ones, and open ones whose priority or title changed, are
    broadcast as `ai_recommendation` after commit.
    """
    now = timezone.now()
    fields = {
        "priority": priority,
        "title": title[:200],
        "reasoning": reasoning,
        "expected_impact": expected_impact[:200],
        "impact_t": impact_t,
        "impact_h": impact_h,
        "data": data or {},
        "expires_at": now + ttl,
    }
    current = (
        Recommendation.objects.select_for_update()
        .filter(site=site, kind=kind, subject=subject, status=RecommendationStatus.NEW)
        .first()
    )
    if current is not None:
        changed = (current.priority, current.title) != (priority, fields["title"])
        for name, value in fields.items():
            setattr(current, name, value)
        current.save(update_fields=[*fields, "updated_at"])
        if changed:
            _publish_recommendations([current])
        return current, False
    decided = Recommendation.objects.filter(
        site=site,
        kind=kind,
        subject=subject,
        status__in=[RecommendationStatus.ACCEPTED, RecommendationStatus.DISMISSED],
        decided_at__gte=now - DECISION_QUIET,
    )
    if decided.exists():
        return None, False
    try:
        with transaction.atomic():  # the partial unique index settles a race between two raisers
            rec = Recommendation.objects.create(site=site, kind=kind, subject=subject, **fields)
    except IntegrityError:
        return upsert_recommendation(
            site=site, kind=kind, subject=subject, title=title, reasoning=reasoning,
            expected_impact=expected_impact, priority=priority, impact_t=impact_t, impact_h=impact_h,
            data=data, ttl=ttl,
        )  # fmt: skip
    _publish_recommendations([rec])
    return rec, True


@transaction.atomic
def decide_recommendation(*, recommendation: Recommendation, user: AbstractBaseUser, accept: bool) -> bool:
    """Accept or dismiss an open recommendation; False when it was already decided or expired."""
    status = RecommendationStatus.ACCEPTED if accept else RecommendationStatus.DISMISSED
    rec = Recommendation.objects.select_for_update().get(pk=recommendation.pk)
    if rec.status != RecommendationStatus.NEW:
        return False
    rec.status, rec.decided_at, rec.decided_by = status, timezone.now(), user
    rec.save(update_fields=["status", "decided_at", "decided_by", "updated_at"])
    audit.record(actor=user, action=AuditAction.RECOMMENDATION, targets=[rec], decision=str(status))
    _publish_recommendations([rec])
    return True


@transaction.atomic
def expire_recommendations(
    *, site: Site, kinds: Iterable[str] = (), keep: Iterable[tuple[str, str]] = ()
) -> int:
    """Expire open recommendations past their time, and those of `kinds` whose (kind, subject) is not in
    `keep` (the engine no longer sees their reason). Returns how many expired."""
    now = timezone.now()
    keep = set(keep)
    open_recs = Recommendation.objects.select_for_update().filter(site=site, status=RecommendationStatus.NEW)
    expired = [
        rec
        for rec in open_recs.order_by("pk")
        if rec.expires_at <= now or (rec.kind in set(kinds) and (rec.kind, rec.subject) not in keep)
    ]
    Recommendation.objects.filter(pk__in=[rec.pk for rec in expired]).update(
        status=RecommendationStatus.EXPIRED, updated_at=now
    )
    for rec in expired:
        rec.status = RecommendationStatus.EXPIRED
    _publish_recommendations(expired)
    return len(expired)
