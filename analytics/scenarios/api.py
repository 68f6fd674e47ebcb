"""REST endpoints of what-if scenarios: engineers create and cancel them, anyone signed in reads them.

POST /api/scenarios validates the changes against the site's engine state (unknown loader, too many seeds
...) and answers 202 with the queued scenario, or 429 when the site or the engineer has too many queued or
running; GET /api/scenarios/{id} shows its progress and results.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import django_filters
from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.permissions import RUN_SCENARIOS
from analytics.scenarios import engine, runner, services
from analytics.scenarios.models import Scenario, ScenarioKind, ScenarioStatus
from fleet.api.filters import site_id_named
from fleet.choices import DispatchStrategy
from fleet.models import Site
from smartmine.platform.api.errors import Conflict, LimitReached, error_body
from smartmine.platform.api.fields import ChoiceField, SiteField
from smartmine.platform.api.filters import SiteFilter, is_id
from smartmine.platform.api.schema import ErrorSerializer, error_response

DEFAULT_SHIFT_HOURS = 8.0
DEFAULT_SEEDS = 5
MIN_SHIFT_HOURS = 0.25  # shorter runs say more about the starting queues than about the changes
MAX_CRUSHER_TPH = 20_000.0  # several times the largest primary gyratory


class CrusherCapacitySerializer(serializers.Serializer):
    crusher_id = serializers.IntegerField(min_value=1)
    rated_tph = serializers.FloatField(
        min_value=0.0, max_value=MAX_CRUSHER_TPH, help_text="rated capacity (t/h); 0 = the crusher is down"
    )


class ChangesSerializer(serializers.Serializer):
    add_trucks = serializers.IntegerField(min_value=0, max_value=engine.MAX_TRUCKS, default=0)
    truck_model = serializers.CharField(
        required=False, help_text="model of added trucks, e.g. CAT 793F (default: the fleet's most common)"
    )
    remove_trucks = serializers.IntegerField(
        min_value=0, max_value=engine.MAX_TRUCKS, default=0, help_text="the highest-numbered trucks leave"
    )
    remove_truck_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), default=list, max_length=engine.MAX_TRUCKS
    )
    loaders_down = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        default=list,
        max_length=100,
        help_text="loader ids in maintenance for the whole run",
    )
    crusher_capacity = CrusherCapacitySerializer(many=True, required=False, default=list)
    dispatch_strategy = ChoiceField(
        choices=DispatchStrategy.choices, required=False, help_text="default: the site's own"
    )

    def validate(self, attrs: dict) -> dict:
        for name in ("remove_truck_ids", "loaders_down"):
            if len(set(attrs[name])) != len(attrs[name]):
                raise serializers.ValidationError({name: ["each id at most once"]})
        crushers = [item["crusher_id"] for item in attrs["crusher_capacity"]]
        if len(set(crushers)) != len(crushers):
            raise serializers.ValidationError({"crusher_capacity": ["each crusher at most once"]})
        return attrs


class ScenarioRequestSerializer(serializers.Serializer):
    """What to change and how long to run. Limits: docs/scenarios.md."""

    site = SiteField(required=False)
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    start = ChoiceField(
        choices=runner.STARTS,
        default=runner.START_CURRENT,
        help_text="current: the site now, with operators' changes; saved: as saved by the last tick",
    )
    changes = ChangesSerializer(required=False)
    shift_hours = serializers.FloatField(
        min_value=MIN_SHIFT_HOURS, max_value=engine.MAX_SHIFT_HOURS, default=DEFAULT_SHIFT_HOURS
    )
    seeds = serializers.IntegerField(
        min_value=1, max_value=engine.MAX_SEEDS, default=DEFAULT_SEEDS, help_text="runs of each variant"
    )
    first_seed = serializers.IntegerField(min_value=0, max_value=2**31, default=0)
    fleet_sizes = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=engine.MAX_TRUCKS),
        required=False,
        min_length=1,
        max_length=engine.MAX_FLEET_SIZES,
        help_text="a fleet-sizing sweep: the truck counts to try (the current count is always added)",
    )

    def validate_site(self, value: str) -> Site:
        site = Site.objects.filter(Q(pk=int(value)) if is_id(value) else Q(slug=value)).first()
        if site is None:
            raise serializers.ValidationError(f"no site {value!r}")
        return site

    def validate(self, attrs: dict) -> dict:
        site = attrs.get("site") or Site.objects.order_by("-is_default", "pk").first()
        if site is None:
            raise serializers.ValidationError({"site": ["there is no site yet"]})
        state = runner.base_state(site, attrs["start"])
        if state is None:
            raise serializers.ValidationError({"site": [f"{site} is not simulated (no engine state)"]})
        changes = attrs.get("changes") or ChangesSerializer().run_validation({})
        capacity = changes.pop("crusher_capacity")
        changes["crusher_rated_tph"] = {str(c["crusher_id"]): c["rated_tph"] for c in capacity}
        request = {
            "start": attrs["start"],
            "changes": changes,
            "shift_hours": attrs["shift_hours"],
            "seeds": attrs["seeds"],
            "first_seed": attrs["first_seed"],
            "fleet_sizes": sorted(set(attrs.get("fleet_sizes", []))),
        }
        plan = runner.plan_from_request(request, base_strategy=site.dispatch_strategy)
        problems = engine.problems(state, plan)
        if problems:
            raise serializers.ValidationError(problems)
        return {"site": site, "name": attrs["name"], "request": request}


class ScenarioSerializer(serializers.ModelSerializer):
    site_id = serializers.IntegerField(read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None, help_text="username"
    )
    results = serializers.JSONField(
        read_only=True,
        help_text="per seed and aggregate figures of `baseline` and `scenario` and their `difference` "
        "(or `fleet_sizing` with the curve and verdict); partial when cancelled; docs/scenarios.md",
    )
    request = serializers.JSONField(read_only=True, help_text="the validated changes, shift and seeds")

    class Meta:
        model = Scenario
        fields = [
            "id", "site_id", "name", "kind", "status", "progress_pct", "cancel_requested", "error",
            "request", "results", "created_by", "created_at", "started_at", "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class ScenarioFilterSet(django_filters.FilterSet):
    site = SiteFilter(site_lookup=site_id_named, field_name="site_id", help_text="site id or slug")
    status = django_filters.MultipleChoiceFilter(choices=ScenarioStatus.choices, help_text="one or more")
    kind = django_filters.ChoiceFilter(choices=ScenarioKind.choices)

    class Meta:
        model = Scenario
        fields = ["site", "status", "kind"]


_LIMIT_RESPONSE = OpenApiResponse(
    ErrorSerializer,
    description="Too many scenarios queued or running for the site (`details.site`) or the engineer "
    "(`details.created_by`)",
    examples=[
        OpenApiExample(
            "Site at its limit",
            value=error_body(
                "too_many_scenarios",
                "Pilbara demo pit has 6 scenarios queued or running (the limit is 6): wait for one to finish "
                "or cancel one (#12, #13, #14, #15, #16, #17)",
                {"site": ["Pilbara demo pit has 6 scenarios queued or running (the limit is 6): ..."]},
            ),
        )
    ],
)


@contextmanager
def _limits_as_429() -> Iterator[None]:
    try:
        yield
    except services.TooManyScenarios as exc:
        raise LimitReached(str(exc), code="too_many_scenarios", details={exc.field: [str(exc)]}) from exc


_EXAMPLE = {
    "site": "pilbara-demo-pit",
    "name": "Two more trucks while SH-02 is down",
    "changes": {"add_trucks": 2, "loaders_down": [2], "dispatch_strategy": "optimiser"},
    "shift_hours": 8,
    "seeds": 5,
}


@extend_schema_view(
    list=extend_schema(summary="What-if scenarios, newest first"),
    retrieve=extend_schema(summary="One scenario: status, progress and results"),
    create=extend_schema(
        summary="Run a what-if scenario or a fleet-sizing sweep",
        description=(
            "Engineers only (analytics.run_scenarios). Changes apply to a copy of the site's engine state; "
            "the baseline (unchanged) and the scenario run headless on the same seeds in a worker. Answers "
            "202 with the queued scenario; poll it for `progress_pct` and `results`. With `fleet_sizes` it "
            "is a sweep over the number of trucks. Limits: at most 20 seeds, 24 h, 500 trucks per run, 12 "
            "fleet sizes and 60,000 simulated truck-hours in all (400 naming `seeds`, `shift_hours` and the "
            "trucks). At most 6 scenarios queued or running per site and 4 per engineer: beyond that, 429 "
            "`too_many_scenarios` with `details.site` or `details.created_by` listing them. Rules the schema "
            "cannot express, refused with 400 naming the field: a sweep (`fleet_sizes`) leaves out adding "
            "and removing trucks; each id at most once in a list; loaders, crushers and trucks named exist "
            "at the site, which is simulated."
        ),
        request=ScenarioRequestSerializer,
        responses={202: ScenarioSerializer, 429: _LIMIT_RESPONSE},
        examples=[OpenApiExample("Two more trucks", value=_EXAMPLE, request_only=True)],
    ),
    cancel=extend_schema(
        summary="Cancel a scenario",
        description="Engineers only. A queued scenario is cancelled at once; a running one stops at its "
        "next check (between seeds, or every 10 simulated minutes) and keeps the seeds it finished. "
        "409 when it has already finished.",
        request=None,
        responses={200: ScenarioSerializer, 409: error_response(409)},
    ),
    rerun=extend_schema(
        summary="Run a finished scenario again",
        description="Engineers only. Queues a new scenario with the same request and name (e.g. one that "
        "failed because its worker was lost); 202 with the new scenario, 409 while this one is queued or "
        "running, 429 at the limits of a new scenario.",
        request=None,
        responses={202: ScenarioSerializer, 409: error_response(409), 429: _LIMIT_RESPONSE},
    ),
)
class ScenarioViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Scenario.objects.select_related("created_by").order_by("-created_at", "-id")
    serializer_class = ScenarioSerializer
    filterset_class = ScenarioFilterSet
    lookup_value_regex = r"\d+"
    action_permissions = {"create": RUN_SCENARIOS, "cancel": RUN_SCENARIOS, "rerun": RUN_SCENARIOS}

    def create(self, request: Request) -> Response:
        body = ScenarioRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with _limits_as_429():
            scenario = services.create_scenario(**body.validated_data, actor=request.user)
        return Response(self.get_serializer(scenario).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def rerun(self, request: Request, pk: str) -> Response:
        scenario = get_object_or_404(Scenario.objects.select_related("site"), pk=pk)
        try:
            with _limits_as_429():
                again = services.rerun_scenario(scenario=scenario, actor=request.user)
        except services.ScenarioNotFinished as exc:
            raise Conflict(str(exc)) from exc
        return Response(self.get_serializer(again).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def cancel(self, request: Request, pk: str) -> Response:
        scenario = get_object_or_404(Scenario, pk=pk)
        try:
            scenario = services.cancel_scenario(scenario=scenario, actor=request.user)
        except services.ScenarioFinished as exc:
            raise Conflict(str(exc)) from exc
        return Response(self.get_serializer(scenario).data)
