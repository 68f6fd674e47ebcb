"""Platform endpoints: /api/health and /api/version (the original backend's paths)."""

import hmac
import ipaddress
import platform

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.log import log_response
from drf_spectacular.utils import extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import api_view, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

import smartmine
from smartmine import health
from smartmine.platform import metrics
from smartmine.platform.api.fields import ChoiceField
from smartmine.platform.api.permissions import ScopedThrottle


def _section(name: str, **fields: serializers.Field) -> serializers.Serializer:
    """A part of the health `metrics`: absent when the summary failed and `error` is given instead."""
    return inline_serializer(name, fields, required=False)


def _count_field() -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0)


def _nullable_float_field() -> serializers.FloatField:
    return serializers.FloatField(allow_null=True)  # null until the first observation


HEALTH_METRICS = _section(
    "HealthMetrics",
    api=_section(
        "HealthApiMetrics",
        requests=_count_field(),
        server_errors=_count_field(),
        p50_ms=_nullable_float_field(),
        p99_ms=_nullable_float_field(),
    ),
    websocket=_section(
        "HealthWebsocketMetrics",
        connections=serializers.IntegerField(),
        messages_sent=_count_field(),
        messages_dropped=_count_field(),
        policy_closes=_count_field(),
    ),
    ticks=_section(
        "HealthTickMetrics",
        applied=_count_field(),
        skipped=_count_field(),
        p95_ms=_nullable_float_field(),
        max_lag_s=_nullable_float_field(),
    ),
    readings_ingested=serializers.IntegerField(min_value=0, required=False),
    mqtt=_section("HealthMqttMetrics", messages=_count_field(), rejected=_count_field()),
    celery=_section(
        "HealthCeleryMetrics", success=_count_field(), failure=_count_field(), retry=_count_field()
    ),
    processes=serializers.DictField(
        required=False,
        child=inline_serializer(
            "HealthProcessMetrics", {"peak_memory_bytes": _count_field(), "cpu_s": serializers.FloatField()}
        ),
    ),
    ml=serializers.DictField(
        required=False,
        child=inline_serializer(
            "HealthModelMetrics",
            {
                "age_s": _nullable_float_field(),
                "validation": serializers.DictField(child=serializers.FloatField()),
                "live_accuracy": serializers.DictField(child=serializers.FloatField()),
            },
        ),
    ),
    error=serializers.CharField(required=False),
)

HEALTH_RESPONSE = inline_serializer(
    "Health",
    {
        "status": ChoiceField(choices=["ok", "degraded"]),
        "failed": serializers.ListField(child=serializers.CharField()),
        "components": serializers.DictField(child=serializers.DictField()),
        "metrics": HEALTH_METRICS,
    },
)


@extend_schema(
    summary="Health of the system and of each component",
    description=(
        "Checks PostgreSQL, Redis, that a Celery worker answers, and how old the last simulation tick is; "
        "`components.mqtt` that the MQTT broker accepts the ingest user, with each ingest process's lag; "
        "`components.models` reports the failure models' state (`training` with a bootstrap's progress, "
        "`ready`, `failed`, `no_model`) and never fails. "
        "Answers within 2 s even when a component hangs: 200 when everything is ok, otherwise 503 with "
        "`status: degraded` and `failed` naming the components that are not ok. `metrics` condenses "
        "what /metrics exports (requests, WebSocket, ticks, readings, Celery, processes, models) across all "
        "processes; it never changes the status, and holds only `error` when it could not be read."
    ),
    responses={200: HEALTH_RESPONSE, 503: HEALTH_RESPONSE},
)
@api_view(["GET"])
@permission_classes([AllowAny])  # load balancers and monitors call it without credentials
@throttle_classes([])
def health_view(request: Request) -> Response:
    results = health.run_checks(health.CHECKS, settings.HEALTH_CHECK_TIMEOUT_S)
    failed = sorted(name for name, result in results.items() if result.status != health.OK)
    body = {
        "status": "degraded" if failed else "ok",
        "failed": failed,
        "components": {name: result.as_dict() for name, result in results.items()},
        "metrics": health.metrics_summary(),
    }
    response = Response(body, status=503 if failed else 200)
    if failed:
        # A degraded answer is the endpoint working, not failing: a warning that names the components
        # (a worker still starting is one). Django would log any 503 as a server error otherwise.
        log_response(
            "Health degraded: %s", ", ".join(failed), response=response, request=request, level="warning"
        )
    return response


@extend_schema(
    summary="Versions of SmartMine, its API and its runtime",
    responses=inline_serializer(
        "Version",
        {
            "version": serializers.CharField(),
            "api_version": serializers.CharField(),
            "python": serializers.CharField(),
            "django": serializers.CharField(),
        },
    ),
)
@api_view(["GET"])
@permission_classes([AllowAny])
def version_view(request: Request) -> Response:
    return Response(
        {
            "name": "SmartMine",
            "version": smartmine.__version__,
            "api_version": smartmine.API_VERSION,
            "python": platform.python_version(),
            "django": django.get_version(),
        }
    )


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    authorization = request.headers.get("Authorization", "")
    if token and authorization.startswith("Bearer ") and hmac.compare_digest(authorization[7:], token):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in settings.METRICS_ALLOWED_NETWORKS)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of every process; only with METRICS_TOKEN or from METRICS_ALLOWED_NETWORKS."""
    if not _metrics_allowed(request):
        return JsonResponse(
            {"error": {"code": "permission_denied", "message": "metrics need a token or an allowed network",
                       "details": {}}},
            status=403,
        )  # fmt: skip
    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


class TokenView(ObtainAuthToken):
    """POST /api/auth/token: a token for a username and password, throttled against password guessing."""

    throttle_classes = [ScopedThrottle]
    throttle_scope = "auth"
    renderer_classes = api_settings.DEFAULT_RENDERER_CLASSES
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES

    @extend_schema(
        summary="Get an API token",
        description="The token goes in `Authorization: Token <key>`. Throttled (10 a minute per client).",
        request=AuthTokenSerializer,
        responses={200: inline_serializer("Token", {"token": serializers.CharField()})},
        auth=[],
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        return super().post(request, *args, **kwargs)
