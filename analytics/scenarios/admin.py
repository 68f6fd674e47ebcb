"""Admin pages of what-if scenarios: read their results, cancel them (through analytics.scenarios.services).

Registered when imported (analytics/admin.py imports this module).
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from analytics.permissions import RUN_SCENARIOS
from analytics.scenarios import services
from analytics.scenarios.models import Scenario


@admin.register(Scenario)
class ScenarioAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "site",
        "kind",
        "status",
        "progress_pct",
        "headline",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "kind", "site"]
    search_fields = ["name"]
    list_select_related = ["site", "created_by"]
    date_hierarchy = "created_at"
    actions = ["cancel"]
    fields = [
        "name", "site", "kind", "status", "progress_pct", "cancel_requested", "error", "created_by",
        "created_at", "started_at", "finished_at", "request_json", "results_json",
    ]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="result")
    def headline(self, obj: Scenario) -> str:
        """The one number an engineer looks for: tonnes against the baseline, or the sweep's verdict."""
        results = obj.results or {}
        if "fleet_sizing" in results:
            return results["fleet_sizing"].get("message", "")
        pct = results.get("difference", {}).get("tonnes", {}).get("pct")
        return "" if pct is None else f"{pct:+.1f} % tonnes vs baseline"

    @admin.display(description="request")
    def request_json(self, obj: Scenario) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.request, indent=2))

    @admin.display(description="results")
    def results_json(self, obj: Scenario) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.results, indent=2))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created through the API, which validates the changes against the site

    def has_change_permission(self, request: HttpRequest, obj: Scenario | None = None) -> bool:
        return False

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RUN_SCENARIOS)

    @admin.action(description="Cancel selected scenarios", permissions=["cancel"])
    def cancel(self, request, queryset) -> None:
        cancelled = 0
        for scenario in queryset.order_by("pk"):
            try:
                services.cancel_scenario(scenario=scenario, actor=request.user)
            except services.ScenarioFinished:
                continue
            cancelled += 1
        self.message_user(request, f"{cancelled} scenario(s) cancelled.", messages.SUCCESS)
