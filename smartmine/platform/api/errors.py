"""The one error shape of the API and the handlers that give it to every failure.

{"error": {"code", "message", "details": {field: [messages]}}} for DRF views, Django's own 400/403/404/500
pages under /api/, and a database that cannot serve (503 with Retry-After). REST_FRAMEWORK settings name
the exception handler here; DRF's views are imported lazily (settings import this module).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django import db
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response

# --- The one error shape: {"error": {"code", "message", "details": {field: [messages]}}}

#: Field name under which errors that belong to no one field are listed.
NON_FIELD = "non_field_errors"


def error_body(code: str, message: str, details: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"field": [...], "items.3.fuel_l": [...]}: one level, plain strings."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            out |= _flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        out = {}
        for index, value in enumerate(detail):
            if value:
                out |= _flatten(value, f"{prefix}.{index}" if prefix else str(index))
        return out
    items = detail if isinstance(detail, list) else [detail]
    return {prefix or NON_FIELD: [str(item) for item in items]}


def _message(exc: exceptions.APIException, details: dict[str, list[str]]) -> str:
    if isinstance(exc, exceptions.ValidationError):
        if list(details) == [NON_FIELD]:
            return details[NON_FIELD][0]
        return f"Invalid input: {', '.join(details)}."
    if isinstance(exc.detail, dict | list):
        return next(iter(_flatten(exc.detail).values()))[0]
    return str(exc.detail)


logger = logging.getLogger(__name__)

#: Seconds a client is told to wait before retrying when the database cannot serve the request.
DATABASE_RETRY_AFTER_S = 5


def _database_unavailable_body(exc: Exception) -> dict[str, Any]:
    """A pool timeout, a lost server or a deadlock is transient: say so, and do not blame the client."""
    reason = type(exc.__cause__ or exc).__name__
    logger.warning("database unavailable for a request: %s: %s", reason, exc)
    return error_body(
        "database_unavailable",
        f"The database cannot serve this request right now ({reason}); retry in {DATABASE_RETRY_AFTER_S} s.",
    )


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, reshaped into the one error body. Unexpected errors propagate to handler500."""
    if isinstance(exc, db.OperationalError | db.InterfaceError):
        response = Response(_database_unavailable_body(exc), status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(get_error_detail(exc))
    from rest_framework.views import exception_handler as drf_exception_handler  # settings import this module

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        details = _flatten(exc.detail)
    else:
        details = getattr(exc, "details", {})  # LimitReached names what is at its limit
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    response.data = error_body(code, _message(exc, details), details)
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django-level 404 (no URL matched): JSON under /api/, the usual HTML page elsewhere."""
    if _is_api(request):
        body = error_body("not_found", f"No endpoint at {request.path}; see /api/docs/ for the API.")
        return JsonResponse(body, status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django-level 400 (e.g. a Host header not in ALLOWED_HOSTS): JSON under /api/."""
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django-level 403 (e.g. a CSRF failure outside DRF): JSON under /api/."""
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", "This request is not allowed."), status=403)
    return defaults.permission_denied(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Django-level 500 (an unhandled exception): JSON under /api/, the usual HTML page elsewhere."""
    if _is_api(request):
        body = error_body("server_error", "The server failed to answer this request; it has been logged.")
        return JsonResponse(body, status=500)
    return defaults.server_error(request)


class ReturnDatabaseConnectionMiddleware:
    """Hands the request's pooled connection back in the thread that used it, once the response is built.

    Django returns it on `request_finished`, which under ASGI is sent from the async side; when a client has
    gone and the application is cancelled, that send may never run in the view's thread, and a pooled
    connection left in a finished thread is lost to the pool for good. First in MIDDLEWARE, so it wraps all.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        finally:
            for connection in db.connections.all(initialized_only=True):
                if not connection.in_atomic_block:  # e.g. a test's transaction around the request
                    connection.close_if_unusable_or_obsolete()


class DatabaseUnavailableMiddleware:
    """503 with Retry-After, not 500, when the database cannot serve a non-DRF view (admin, dashboard) or
    the pool has no connection free within DATABASE_POOL_TIMEOUT; DRF views get it from exception_handler."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, db.OperationalError | db.InterfaceError):
            return None
        body = _database_unavailable_body(exception)
        if _is_api(request):
            response: HttpResponse = JsonResponse(body, status=503)
        else:
            response = HttpResponse(body["error"]["message"], status=503, content_type="text/plain")
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response


class Conflict(exceptions.APIException):
    """The request is valid but the equipment is not in a state that allows it."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The resource is not in a state that allows this."
    default_code = "conflict"


class LimitReached(exceptions.APIException):
    """Valid, but the caller has as much work queued as a limit allows: retry once some of it is done.

    `details` names what is at its limit (the one error body's `details`), e.g. {"site": ["..."]}.
    """

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "A limit on work in progress is reached."
    default_code = "limit_reached"

    def __init__(self, detail: str, *, code: str | None = None, details: dict[str, list[str]] | None = None):
        super().__init__(detail, code)
        self.details = details or {}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"
