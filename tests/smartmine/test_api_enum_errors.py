"""A value outside an enumeration is refused with a message naming the accepted values, for every choice
the API takes: serializer fields, filters and the hand-written checks."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from analytics.alerts.models import AlertSeverity
from analytics.kpis.formulas import WINDOWS
from analytics.scenarios.models import ScenarioKind, ScenarioStatus
from analytics.scenarios.runner import STARTS
from analytics.scoring.models import ModelKind
from analytics.scoring.registry import KIND_GROUPS
from fleet.choices import DispatchStrategy, LoaderStatus, TruckStatus, ZoneMaterial, ZoneStatus
from fleet.sim.schema import SENSORS
from plants.choices import CrusherStatus
from smartmine import urls
from smartmine.platform.api.fields import ChoiceField
from stockpiles.choices import MaterialKind, StockpileStatus
from tests.apiclients import assert_error, role_client
from tests.factories import SiteFactory, TruckFactory

pytestmark = pytest.mark.django_db

EQUIPMENT_KINDS = ["truck", "loader", "crusher", "stockpile"]
NESTED = {"dispatch_strategy": "fastest"}

#: (method, path, field in `details`, the accepted values[, query or body if not {field: "fastest"}]): every
#: enumeration of the API.
ENUMS = [
    ("patch", "/api/sites/{site}", "dispatch_strategy", DispatchStrategy),
    ("get", "/api/trucks", "status", TruckStatus),
    ("get", "/api/loaders", "status", LoaderStatus),
    ("get", "/api/mining/zones", "status", ZoneStatus),
    ("get", "/api/mining/zones", "material", ZoneMaterial),
    ("get", "/api/crushers", "status", CrusherStatus),
    ("get", "/api/stockpiles", "status", StockpileStatus),
    ("get", "/api/stockpiles", "material_kind", MaterialKind),
    ("get", "/api/alerts", "severity", AlertSeverity),
    ("get", "/api/alerts", "equipment_kind", EQUIPMENT_KINDS),
    ("get", "/api/scenarios", "status", ScenarioStatus),
    ("get", "/api/scenarios", "kind", ScenarioKind),
    ("post", "/api/scenarios", "start", STARTS),
    ("post", "/api/scenarios", "changes.dispatch_strategy", DispatchStrategy, {"changes": NESTED}),
    ("get", "/api/mining/kpis", "window", ["shift", *WINDOWS]),
    ("get", "/api/ml/health-prediction", "equipment_kind", EQUIPMENT_KINDS[:3]),
    ("get", "/api/ml/recommendations", "status", ["new", "accepted", "dismissed", "expired", "all"]),
    # hand-written checks
    # the list's item is named: kinds.0
    ("post", "/api/ml/models/retrain", "kinds.0", [*KIND_GROUPS, *ModelKind.values], {"kinds": ["fastest"]}),
    ("get", "/api/trucks/{truck}/readings", "fields", list(SENSORS["truck"])),
]


@pytest.mark.parametrize("enum", ENUMS, ids=[f"{enum[1]}:{enum[2]}" for enum in ENUMS])
def test_a_value_outside_an_enumeration_is_refused_naming_the_accepted_ones(enum):
    method, path, field, accepted, *data = enum
    site = SiteFactory()
    ids = {"site": site.pk, "truck": TruckFactory(site=site).pk}
    client = role_client("engineer")

    response = getattr(client, method)(
        path.format(**ids),
        data[0] if data else {field: "fastest"},
        format=None if method == "get" else "json",
    )

    [message] = assert_error(response, 400, "invalid")[field]
    assert "fastest" in message
    missing = [value for value in getattr(accepted, "values", accepted) if value not in message]
    assert missing == [], message


def test_the_message_says_which_value_and_lists_every_accepted_one():
    site = SiteFactory()

    response = role_client("engineer").patch(
        f"/api/sites/{site.pk}", {"dispatch_strategy": "fastest"}, format="json"
    )

    assert assert_error(response, 400, "invalid") == {
        "dispatch_strategy": [
            '"fastest" is not a valid choice; expected one of: fixed, shortest_queue, sptf, optimiser.'
        ]
    }


def test_a_repeated_filter_parameter_is_refused_naming_its_first_wrong_value():
    response = role_client("viewer").get("/api/trucks?status=hauling&status=parked&status=fastest")

    [message] = assert_error(response, 400, "invalid")["status"]
    assert message == f'"parked" is not a valid choice; expected one of: {", ".join(TruckStatus.values)}.'


def _writable_choice_fields(serializer: serializers.BaseSerializer, prefix: str = ""):
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        field = getattr(field, "child", field)  # many=True, ListField, DictField
        if isinstance(field, serializers.BaseSerializer):
            yield from _writable_choice_fields(field, f"{prefix}{name}.")
        elif isinstance(field, serializers.ChoiceField):
            yield f"{prefix}{name}", field


def _project_serializers(cls=serializers.Serializer):
    for subclass in cls.__subclasses__():
        if subclass.__module__.split(".")[0] in {"fleet", "plants", "stockpiles", "analytics", "smartmine"}:
            yield subclass
        yield from _project_serializers(subclass)


def test_every_choice_a_client_sends_through_a_serializer_uses_the_platform_field():
    assert urls.urlpatterns  # every API module imported

    wrong = [
        f"{cls.__module__}.{cls.__name__}.{name}"
        for cls in set(_project_serializers())
        for name, field in _writable_choice_fields(cls())
        if not isinstance(field, ChoiceField)
    ]

    assert wrong == []
