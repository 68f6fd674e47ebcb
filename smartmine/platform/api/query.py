"""Query parameters checked against the OpenAPI schema: the schema is the truth for every operation.

One rule for the whole API (docs/api.md): a query parameter the operation does not declare, a parameter
given twice that is not a list, or a value outside its declared type, bounds, enum or pattern is answered
400 in the one error shape, with the parameter's name in `details`. Views then only see values the schema
promised them, and a client generated from `/api/schema/` cannot send a request the schema allows and
the server refuses for its form (cross-field rules, such as `from` before `to`, stay in the views and are
described in their operations).

The schema is generated once per process, lazily, on the first API request (about a second); operations
are matched by path template and method. Paths outside the schema (the schema itself, the docs page, the
admin) are not checked.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.dateparse import parse_datetime
from jsonschema import Draft4Validator

from smartmine.platform.api.errors import error_body

_TRUE, _FALSE = {"true", "True"}, {"false", "False"}
_INTEGER = re.compile(r"-?[0-9]+\Z")


@dataclass(frozen=True)
class Parameter:
    name: str
    schema: dict[str, Any]

    @property
    def is_list(self) -> bool:
        return self.schema.get("type") == "array"

    def errors(self, values: list[str]) -> list[str]:
        """Why these raw values do not fit the declared schema; empty when they do."""
        if not self.is_list and len(values) > 1:
            return [f"give `{self.name}` once (it was given {len(values)} times)"]
        item_schema = self.schema.get("items", {}) if self.is_list else self.schema
        problems: list[str] = []
        for raw in values:
            value, problem = _coerce(raw, item_schema.get("type", "string"), item_schema.get("format"))
            if problem:
                problems.append(problem)
                continue
            for error in Draft4Validator(item_schema).iter_errors(value):
                if error.validator != "enum":
                    problems.append(error.message)
                elif raw == "":  # a filter reads "" as no filter: refused here, as the schema does
                    accepted = ", ".join(str(choice) for choice in item_schema["enum"])
                    problems.append(f"`{self.name}` is empty: give one of {accepted}")
                # other values outside the enum: the views refuse them, naming the accepted values in order
        return problems


def _is_datetime(raw: str) -> bool:
    try:
        return parse_datetime(raw) is not None
    except ValueError:  # well formed, but not a real time (month 13)
        return False


def _coerce(raw: str, kind: str, form: str | None = None) -> tuple[Any, str | None]:
    """A query string's value as the JSON type the schema declares, or why it is not one."""
    if form == "date-time" and not _is_datetime(raw):
        return None, f"{raw!r} is not an ISO 8601 date-time, e.g. 2025-03-01T06:00:00Z"
    if kind == "integer":
        return (int(raw), None) if _INTEGER.match(raw) else (None, f"{raw!r} is not an integer")
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            return None, f"{raw!r} is not a number"
        return (number, None) if math.isfinite(number) else (None, f"{raw!r} is not a finite number")
    if kind == "boolean":
        if raw in _TRUE | _FALSE:
            return raw in _TRUE, None
        return None, f"{raw!r} is not a boolean: give true or false"
    return raw, None


@dataclass(frozen=True)
class Operation:
    path: re.Pattern
    method: str
    parameters: dict[str, Parameter]

    def problems(self, query) -> dict[str, list[str]]:
        """Messages per parameter name: unknown names first, then values that do not fit."""
        details: dict[str, list[str]] = {}
        accepted = ", ".join(sorted(self.parameters)) or "none"
        for name in query:
            if name not in self.parameters:
                details[name] = [f"unknown query parameter; this operation takes: {accepted}"]
        for name, parameter in self.parameters.items():
            if name in query and (errors := parameter.errors(query.getlist(name))):
                details[name] = errors
        return details


def operations_of(schema: dict[str, Any]) -> list[Operation]:
    """Every operation of an OpenAPI document with its query parameters (path-level ones included)."""
    operations = []
    for template, item in schema.get("paths", {}).items():
        pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template.rstrip("/"))) + "/?\\Z")
        shared = item.get("parameters", [])
        for method, operation in item.items():
            if method == "parameters":
                continue
            parameters = {
                parameter["name"]: Parameter(parameter["name"], parameter.get("schema", {}))
                for parameter in [*shared, *operation.get("parameters", [])]
                if parameter.get("in") == "query"
            }
            operations.append(Operation(pattern, method.upper(), parameters))
    # literal paths before templated ones: /api/alerts/performance is not /api/alerts/{id}
    return sorted(operations, key=lambda operation: operation.path.pattern.count("[^/]+"))


_lock = threading.Lock()
_operations: list[Operation] | None = None


def api_operations() -> list[Operation]:
    """The API's operations, from the schema drf-spectacular generates (once per process)."""
    global _operations
    with _lock:
        if _operations is None:
            from drf_spectacular.generators import SchemaGenerator  # loads the URLconf: not at import

            _operations = operations_of(SchemaGenerator().get_schema(request=None, public=True))
        return _operations


def operation_for(method: str, path: str) -> Operation | None:
    method = "GET" if method == "HEAD" else method
    for operation in api_operations():
        if operation.method == method and operation.path.match(path):
            return operation
    return None


class QueryParametersMiddleware:
    """Refuses, with 400 naming them, query parameters an API operation does not declare or that do not
    fit their declared schema (module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/") and request.method != "OPTIONS":
            operation = operation_for(request.method, request.path)
            if operation is not None and (details := operation.problems(request.GET)):
                message = f"Invalid query parameters: {', '.join(details)}."
                return JsonResponse(error_body("invalid", message, details), status=400)
        return self.get_response(request)
