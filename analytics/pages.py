"""What the analytics endpoints share: which site a request means, and the ML pages (rows with the active
failure models' versions) that health predictions and recommendations answer alike."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema_serializer, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.scoring.models import ModelVersion
from fleet.models import Site
from smartmine.platform.api.fields import SiteField
from smartmine.platform.api.filters import is_id
from smartmine.platform.api.pagination import MAX_OFFSET, RowPagination

#: `limit` and `offset` of an ML page, for views that paginate by hand (the schema lists them, so clients
#: may send them; an undeclared parameter is refused).
PAGE_PARAMETERS = [
    OpenApiParameter(
        "limit",
        {
            "type": "integer",
            "minimum": 1,
            "maximum": RowPagination.max_limit,
            "default": RowPagination.default_limit,
        },
        description="rows per page",
    ),
    OpenApiParameter(
        "offset",
        {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        description="rows skipped",
    ),
]


def requested_site(value: str | None) -> Site:
    """The site a `site` query parameter names (id or slug), or the default site."""
    sites = Site.objects.only("id", "name", "slug", "timezone", "sim_clock", "created_at")
    if value is None:
        site = sites.filter(is_default=True).first() or sites.order_by("pk").first()
        if site is None:
            raise exceptions.NotFound("There is no site yet.")
        return site
    lookup = {"pk": int(value)} if is_id(value) else {"slug": value}
    return get_object_or_404(sites, **lookup)


class MlQuerySerializer(serializers.Serializer):
    site = SiteField(required=False)


def ml_page(name: str, item: type[serializers.Serializer], **extra: serializers.Field):
    """The schema of a page of ML rows: paginated `item`s, the active failure models' versions, `extra`.

    One object, never a list of them, even as a viewset's `list` answer (drf-spectacular would wrap it)."""
    page = inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "model_version": serializers.CharField(
                allow_null=True, help_text="active failure models, e.g. failure_truck@3; null until trained"
            ),
            **extra,
            "results": item(many=True),
        },
    )
    extend_schema_serializer(many=False)(type(page))
    return page


EMPTY_PAGE = {"count": 0, "next": None, "previous": None, "model_version": None, "results": []}


def requested_site_or_none(value: str | None) -> Site | None:
    """The requested site, or the default one; None when there is no site at all (an empty page)."""
    try:
        return requested_site(value)
    except exceptions.NotFound:
        if value is not None:
            raise
        return None


def _active_label() -> str | None:
    labels = [v.label for v in ModelVersion.objects.filter(active=True, kind__startswith="failure_")]
    return ", ".join(sorted(labels)) or None


def ml_page_response(
    view: APIView, request: Request, rows: list, item, extra: dict | None = None
) -> Response:
    """One page of `rows`, each shaped by `item`, with the active failure models' versions and `extra`."""
    paginator = RowPagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    body = paginator.get_paginated_response([item(row) for row in page]).data
    return Response({**body, "model_version": _active_label(), **(extra or {})})
