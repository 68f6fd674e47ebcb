"""Pagination of current-state lists (DEFAULT_PAGINATION_CLASS)."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

#: The largest offset a page may start at (PostgreSQL takes a bigint; no list comes near it).
MAX_OFFSET = 2**31 - 1


class RowPagination(LimitOffsetPagination):
    """Current-state lists: a whole mid-size fleet fits one page, so a dashboard usually makes one call.

    The schema gives `limit` (1 to max_limit) and `offset` (0 and up) their bounds; the query-parameter
    check (smartmine.platform.api.query) refuses values outside them with 400."""

    default_limit = 1000
    max_limit = 5000

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"] |= bounds.get(parameter["name"], {})
        return parameters
