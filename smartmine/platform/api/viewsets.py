"""Base viewset and router every app's API uses: current-state rows, paths with or without a slash."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.http import HttpResponse
from rest_framework import exceptions, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from smartmine.platform import readmodel
from smartmine.platform.api.pagination import RowPagination


class ReadModelListMixin:
    """An unfiltered list answers from the live read model (smartmine.platform.readmodel) when it is
    current, with ETag and Cache-Control; anything else, or a stale model, takes the view's own path."""

    #: The read-model resource holding this list's rows (None: always the database).
    read_model: str | None = None

    def list(self, request: Request, *args, **kwargs) -> HttpResponse:
        stored = self.read_model_response(request)
        return stored if stored is not None else super().list(request, *args, **kwargs)

    def read_model_response(self, request: Request) -> HttpResponse | None:
        page_size = getattr(self.paginator, "default_limit", None)
        if not (self.read_model and page_size):
            return None
        return readmodel.list_response(request, self.read_model, page_size=page_size)


class RowsViewSet(ReadModelListMixin, viewsets.GenericViewSet):
    """List and detail of current-state rows, the same rows the live WebSocket sends.

    The filterset and paginator work on a queryset of ids (one COUNT, one SELECT of ids); the selector then
    builds exactly the live rows for those ids (one SELECT). Three queries whatever the number of rows.
    """

    lookup_value_regex = r"\d+"
    pagination_class = RowPagination
    #: The selector building rows for ids, e.g. fleet.selectors.truck_rows.
    rows: Callable[..., list[dict]]

    def rows_for(self, ids: Iterable[int]) -> list[dict]:
        return type(self).rows(ids=list(ids))

    def list(self, request: Request) -> Response:
        stored = self.read_model_response(request)
        if stored is not None:
            return stored
        ids = self.filter_queryset(self.get_queryset()).values_list("pk", flat=True)
        page = self.paginate_queryset(ids)
        return self.get_paginated_response(self.rows_for(page))

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self.row(int(pk)))

    def row(self, pk: int) -> dict:
        rows = self.rows_for([pk])
        if not rows:
            raise exceptions.NotFound(f"No {self.get_queryset().model._meta.verbose_name} with id {pk}.")
        return rows[0]


class OptionalSlashRouter(SimpleRouter):
    """Routes that answer with and without a trailing slash (`/api/trucks` and `/api/trucks/`), so the
    original clients work unchanged and no redirect ever turns a POST into a GET."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"
