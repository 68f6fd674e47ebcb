"""The filter backend of every list (DEFAULT_FILTER_BACKENDS): django-filter's, with choice filters that
refuse a value naming the accepted ones.

REST_FRAMEWORK settings name it and DRF loads it while defining its generic views, so this module must not
import DRF's views.
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.core.validators import EMPTY_VALUES
from django.db.models import QuerySet
from django_filters import CharFilter, FilterSet, NumberFilter
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.drainage import set_override
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from smartmine.platform.api.fields import SITE_PATTERN, invalid_choice


class FilterBackend(DjangoFilterBackend):
    def get_filterset(self, request: Request, queryset: QuerySet, view) -> FilterSet | None:
        filterset = super().get_filterset(request, queryset, view)
        if filterset is None:
            return None
        for field in filterset.form.fields.values():  # this request's copies of the filters' form fields
            if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
                # the blank choice of a single-choice filter means "no filter": not a value to offer
                accepted = [str(choice).replace("%", "%%") for choice, _ in field.choices if choice != ""]
                field.error_messages["invalid_choice"] = invalid_choice(accepted, value="%(value)s")
        return filterset


def is_id(value: str) -> bool:
    """Whether a query value names a row by id: ASCII digits only (str.isdigit also takes '¹', which int()
    refuses); anything else is a slug."""
    return value.isascii() and value.isdigit()


#: Row ids are PostgreSQL bigints from 1.
MAX_ID = 2**63 - 1
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


class IdFilter(NumberFilter):
    """A filter on a row id: an integer from 1 (not any number, as NumberFilter documents)."""

    field_class = forms.IntegerField

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        set_override(self, "field", {**ID_SCHEMA, "description": kwargs.get("help_text", "")})


class SiteFilter(CharFilter):
    """`site=3` or `site=west-pit`; a site that does not exist is a 404, not an empty list."""

    def __init__(self, *, site_lookup: Callable[[str], int | None], **kwargs) -> None:
        super().__init__(**kwargs)
        self.site_lookup = site_lookup
        description = kwargs.get("help_text", "site id or slug")
        set_override(self, "field", {"type": "string", "pattern": SITE_PATTERN, "description": description})

    def filter(self, queryset: QuerySet, value: str) -> QuerySet:
        if value in EMPTY_VALUES:
            return queryset
        site_id = self.site_lookup(value)
        if site_id is None:
            raise NotFound(f"No site with id or slug {value!r}.")
        return queryset.filter(**{self.field_name: site_id})
