"""The filter backend of every list (DEFAULT_FILTER_BACKENDS): django-filter's, with choice filters that
refuse a value naming the accepted ones.

REST_FRAMEWORK settings name it and DRF loads it while defining its generic views, so this module must not
import DRF's views.
"""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet
from django_filters import FilterSet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.request import Request

from smartmine.platform.api.fields import invalid_choice


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
