"""Pagination of current-state lists (DEFAULT_PAGINATION_CLASS)."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination


class RowPagination(LimitOffsetPagination):
    """Current-state lists: a whole mid-size fleet fits one page, so a dashboard usually makes one call."""

    default_limit = 1000
    max_limit = 5000
