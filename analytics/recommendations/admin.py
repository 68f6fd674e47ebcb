"""Control-room page of recommendations: operators accept and dismiss them (through
analytics.recommendations.services)."""

from django.contrib import admin, messages
from django.http import HttpRequest

from analytics.permissions import DECIDE_RECOMMENDATION
from analytics.recommendations import services
from analytics.recommendations.models import Recommendation


@admin.register(Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    list_display = [
        "title", "kind", "priority", "status", "expected_impact", "site", "created_at", "decided_by",
    ]  # fmt: skip
    list_filter = ["status", "kind", "priority", "site"]
    search_fields = ["title", "reasoning", "subject"]
    actions = ["accept", "dismiss"]
    readonly_fields = [f.name for f in Recommendation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # raised by the system and by scenarios

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(DECIDE_RECOMMENDATION)

    def _decide(self, request, queryset, *, accept: bool) -> None:
        changed = sum(
            services.decide_recommendation(recommendation=rec, user=request.user, accept=accept)
            for rec in queryset.order_by("pk")
        )
        verb = "accepted" if accept else "dismissed"
        self.message_user(request, f"{changed} recommendation(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Accept selected recommendations", permissions=["decide"])
    def accept(self, request, queryset) -> None:
        self._decide(request, queryset, accept=True)

    @admin.action(description="Dismiss selected recommendations", permissions=["decide"])
    def dismiss(self, request, queryset) -> None:
        self._decide(request, queryset, accept=False)
