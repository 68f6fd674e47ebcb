"""Fields the API's serializers share: a choice a client sends is refused naming the values it accepts."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework import serializers

#: A site named in a request: its id, or its slug (Django's slug characters).
SITE_PATTERN = r"^[-a-zA-Z0-9_]+$"


def invalid_choice(accepted: Iterable[str], *, value: str) -> str:
    """The one refusal of a value outside an enumeration; `value` is the placeholder of the field's error
    format (`{input}` for DRF, `%(value)s` for Django's forms), `accepted` escaped for that format."""
    return f'"{value}" is not a valid choice; expected one of: {", ".join(accepted)}.'


class ChoiceField(serializers.ChoiceField):
    """DRF's ChoiceField whose refusal lists the accepted values. Every choice the API declares uses it
    (tests/smartmine/test_api_enum_errors.py); filters get the same message from the filter backend."""

    def __init__(self, choices, **kwargs) -> None:
        super().__init__(choices, **kwargs)
        accepted = [str(choice).replace("{", "{{").replace("}", "}}") for choice in self.choices]
        self.error_messages["invalid_choice"] = invalid_choice(accepted, value="{input}")


class SiteField(serializers.RegexField):
    """A site named by id or slug; the schema gives the pattern, the view answers 404 for no such site."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("help_text", "site id or slug (default: the default site)")
        super().__init__(SITE_PATTERN, **kwargs)


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: DRF's BooleanField also takes 0, 1, "yes" and "on", which the schema's
    `boolean` does not allow."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)
