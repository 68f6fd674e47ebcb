"""REST endpoints of recommendations: the site's open ones (or the history); operators accept or dismiss."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.pages import (
    EMPTY_PAGE,
    PAGE_PARAMETERS,
    MlQuerySerializer,
    ml_page,
    ml_page_response,
    requested_site_or_none,
)
from analytics.payloads import recommendation_item
from analytics.permissions import DECIDE_RECOMMENDATION
from analytics.recommendations import services
from analytics.recommendations.models import Recommendation
from smartmine.platform.api.fields import ChoiceField
from smartmine.platform.api.schema import error_response


class RecommendationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="dispatch, maintenance, stockpile, ...")
    priority = ChoiceField(choices=["low", "medium", "high"])
    title = serializers.CharField()
    reasoning = serializers.CharField()
    expected_impact = serializers.CharField(help_text="e.g. +120 t/h at CR-01")
    status = ChoiceField(
        choices=["new", "accepted", "dismissed", "expired"], help_text="new: open, waiting for a decision"
    )
    created_at = serializers.DateTimeField()


class RecommendationQuerySerializer(MlQuerySerializer):
    status = ChoiceField(
        choices=["new", "accepted", "dismissed", "expired", "all"],
        required=False,
        help_text="default new (open ones); all for the history",
    )
    kind = serializers.CharField(required=False, help_text="maintenance, dispatch, stockpile, fleet_sizing")


class DecisionResultSerializer(serializers.Serializer):
    changed = serializers.BooleanField(help_text="false when it had already been decided or had expired")
    recommendation = RecommendationSerializer()


@extend_schema_view(
    list=extend_schema(
        summary="Operational recommendations (maintenance, dispatch, stockpiles, fleet sizing)",
        description=(
            "Open (`new`) recommendations by default, newest first; `status=all` for the history. Each has a "
            "priority, the expected impact in tonnes or hours and its reasoning in plain words. Operators "
            "accept or dismiss them; they expire when their reason goes away."
        ),
        parameters=[RecommendationQuerySerializer, *PAGE_PARAMETERS],
        responses={
            200: ml_page("RecommendationPage", RecommendationSerializer),
            404: error_response(404),
        },
    ),
    accept=extend_schema(
        summary="Accept a recommendation",
        description="Operators and engineers (analytics.decide_recommendation); audited.",
        request=None,
        responses={200: DecisionResultSerializer},
    ),
    dismiss=extend_schema(
        summary="Dismiss a recommendation",
        description="Operators and engineers (analytics.decide_recommendation); audited. The same advice "
        "on the same subject is not raised again for 4 hours.",
        request=None,
        responses={200: DecisionResultSerializer},
    ),
)
class RecommendationViewSet(viewsets.GenericViewSet):
    queryset = Recommendation.objects.all()
    lookup_value_regex = r"\d+"
    action_permissions = dict.fromkeys(["accept", "dismiss"], DECIDE_RECOMMENDATION)
    filter_backends = []
    # list paginates by hand (ml_page_response, RecommendationPage); its limit/offset are PAGE_PARAMETERS
    pagination_class = None

    def list(self, request: Request) -> Response:
        query = RecommendationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        site = requested_site_or_none(params.get("site"))
        if site is None:
            return Response(EMPTY_PAGE)
        rows = Recommendation.objects.filter(site=site).order_by("-created_at", "-id")
        if params.get("status", "new") != "all":
            rows = rows.filter(status=params.get("status", "new"))
        if "kind" in params:
            rows = rows.filter(kind=params["kind"])
        return ml_page_response(self, request, rows, recommendation_item)

    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str) -> Response:
        return self._decide(request, pk, accept=True)

    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str) -> Response:
        return self._decide(request, pk, accept=False)

    def _decide(self, request: Request, pk: str, *, accept: bool) -> Response:
        rec = get_object_or_404(Recommendation, pk=pk)
        changed = services.decide_recommendation(recommendation=rec, user=request.user, accept=accept)
        rec.refresh_from_db()
        return Response({"changed": changed, "recommendation": recommendation_item(rec)})
