"""The OpenAPI side of the API: the error body every operation documents, the schema class that adds the
error answers, and read-only serializers that describe rows built by selectors."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db.models import Model
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS

from smartmine.platform.api.errors import error_body
from smartmine.platform.api.fields import ChoiceField
from smartmine.platform.api.permissions import RolePermission


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="machine-readable: invalid, not_found, permission_denied, ...")
    message = serializers.CharField(help_text="one sentence for a person")
    details = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="messages per field (`non_field_errors` for the request as a whole); empty when none",
    )


class ErrorSerializer(serializers.Serializer):
    """Every 4xx and 5xx answer of the API has this body."""

    error = ErrorDetailSerializer()


_ERROR_EXAMPLES: dict[int, tuple[str, str, str, dict]] = {
    400: (
        "invalid",
        "Invalid or missing input",
        "Invalid input: status.",
        {"status": ['"parked" is not valid']},
    ),
    401: ("not_authenticated", "No credentials", "Authentication credentials were not provided.", {}),
    403: ("permission_denied", "Not allowed", "You do not have permission to perform this action.", {}),
    404: ("not_found", "No such object", "No Truck matches the given query.", {}),
    409: ("conflict", "Wrong state", "HT-07 is broken_down, not in maintenance.", {}),
    413: ("payload_too_large", "Batch too large", "A telemetry batch holds at most 5000 readings.", {}),
    429: ("throttled", "Too many requests", "Request was throttled. Expected available in 12 seconds.", {}),
    503: (
        "database_unavailable",
        "The database cannot serve the request now (retry after Retry-After seconds)",
        "The database cannot serve this request right now (PoolTimeout); retry in 5 s.",
        {},
    ),
}


def error_response(code: int) -> OpenApiResponse:
    name, description, message, details = _ERROR_EXAMPLES[code]
    return OpenApiResponse(
        ErrorSerializer,
        description=description,
        examples=[OpenApiExample(description, value=error_body(name, message, details))],
    )


class SchemaWithErrors(AutoSchema):
    """Adds the error answers every operation can give (401/403, 404 on details, 400 with input, 429 when
    throttled, 503 when the database cannot serve) so each endpoint documents them without repeating the
    list in every view, and documents anonymous reads when the configuration allows them."""

    def get_auth(self) -> list[dict]:
        """With API_ALLOW_ANONYMOUS_READ on, RolePermission lets anyone read: GET and HEAD operations list
        the empty requirement `{}` beside the token and session schemes. Read when the schema is generated
        (per request), so it follows the setting; writes never list it."""
        auths = super().get_auth()
        if (
            self.method in SAFE_METHODS
            and settings.API_ALLOW_ANONYMOUS_READ
            and {} not in auths
            and any(isinstance(permission, RolePermission) for permission in self.view.get_permissions())
        ):
            auths.append({})
        return auths

    def _names_a_site(self) -> bool:
        """A `site` query parameter that must name an existing site answers 404 when it does not."""
        filterset = getattr(self.view, "filterset_class", None)
        if self.get_filter_backends() and filterset is not None and "site" in filterset.base_filters:
            return True
        for parameter in self.get_override_parameters():
            if getattr(parameter, "name", None) == "site":
                return True
            serializer = parameter() if isinstance(parameter, type) else parameter
            if "site" in getattr(serializer, "fields", {}):
                return True
        return False

    def _get_request_for_media_type(self, serializer, direction: str = "request"):
        """A body with `openapi_request_rules` cannot be left out (an empty body breaks its rules)."""
        schema, required = super()._get_request_for_media_type(serializer, direction)
        return schema, required or bool(getattr(serializer, "openapi_request_rules", None))

    def _map_serializer(self, serializer, direction: str, bypass_extensions: bool = False) -> dict:
        """A request serializer's `openapi_request_rules` (e.g. `{"minProperties": 1}` for a PATCH that
        needs at least one field) join its schema: rules of the whole body that fields cannot say."""
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request":
            schema |= getattr(serializer, "openapi_request_rules", {})
        return schema

    def _answers_not_modified(self) -> bool:
        """GETs answered from what the tick keeps (the read model's lists, the shift's KPIs) carry an ETag
        and answer 304 to an If-None-Match that holds it."""
        if self.method != "GET":
            return False
        if getattr(self.view, "read_model", None):
            return getattr(self.view, "action", None) == "list"
        return bool(getattr(self.view, "answers_not_modified", False))

    def get_override_parameters(self) -> list:
        parameters = list(super().get_override_parameters())
        if self._answers_not_modified():
            parameters.append(
                OpenApiParameter(
                    "If-None-Match",
                    str,
                    OpenApiParameter.HEADER,
                    description="the ETag of an earlier answer: 304 with no body while it is current",
                )
            )
        return parameters

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        if self._answers_not_modified():
            etag = {"schema": {"type": "string"}, "description": "the answer's version (kept answers)"}
            responses.get("200", {}).setdefault("headers", {})["ETag"] = etag
            responses["304"] = {
                "description": "Not Modified: the If-None-Match ETag is still current (no body)",
                "headers": {"ETag": etag},
            }
        # 400 everywhere: any operation refuses an undeclared query parameter (smartmine.platform.api.query)
        codes = [400, 401, 403]
        if "{" in self.path or self._names_a_site():
            codes.append(404)
        if self.view.get_throttles():
            codes.append(429)
        codes.append(503)
        for code in codes:
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(error_response(code), str(code))
        return responses


#: A query string never carries a NUL character (Django refuses it): the rule of every free-text parameter.
NO_NUL_PATTERN = "^[^\\u0000]*$"


def refuse_nul_in_free_text(result: dict, generator, request, public: bool) -> dict:
    """Spectacular hook: string query parameters with no enum, format or pattern get NO_NUL_PATTERN."""
    for item in result["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if schema.get("type") == "array":
                    schema = schema.get("items", {})
                free_text = schema.get("type") == "string" and not {"enum", "format", "pattern"} & set(schema)
                if parameter["in"] == "query" and free_text:
                    schema["pattern"] = NO_NUL_PATTERN
    return result


def strip_trailing_slashes(result: dict, generator, request, public: bool) -> dict:
    """Spectacular hook: document paths as clients call them (`/api/trucks`); a trailing slash also works."""
    result["paths"] = {path.rstrip("/") or "/": item for path, item in result["paths"].items()}
    return result


# --- Documenting rows built with values(): a read-only serializer generated from the model's fields

_ROW_FIELD_TYPES: dict[str, type[serializers.Field]] = {
    "FloatField": serializers.FloatField,
    "BooleanField": serializers.BooleanField,
    "DateTimeField": serializers.DateTimeField,
    "JSONField": serializers.JSONField,
    "BigAutoField": serializers.IntegerField,
    "AutoField": serializers.IntegerField,
    "ForeignKey": serializers.IntegerField,
    "PositiveSmallIntegerField": serializers.IntegerField,
    "BigIntegerField": serializers.IntegerField,
}


def row_serializer(
    name: str, model: type[Model], fields: Iterable[str], extra: dict[str, serializers.Field] | None = None
) -> type[serializers.Serializer]:
    """A serializer describing rows of `fields` (names or attnames such as `site_id`) for the schema.

    Rows are sent as the selectors build them (no per-row serializer on the hot path); this class only tells
    OpenAPI their types, units (from the verbose names) and descriptions, so the two cannot drift apart.
    """
    attrs: dict[str, object] = {}
    for field_name in fields:
        field = model._meta.get_field(field_name)
        text = str(field.verbose_name) + (f": {field.help_text}" if field.help_text else "")
        options = {"read_only": True, "help_text": text}
        if getattr(field, "null", False):
            options["allow_null"] = True
        if field.choices:
            attrs[field_name] = ChoiceField(choices=field.choices, **options)
        else:
            attrs[field_name] = _ROW_FIELD_TYPES.get(field.get_internal_type(), serializers.CharField)(
                **options
            )
    attrs |= extra or {}
    return type(f"{name}Serializer", (serializers.Serializer,), attrs)
