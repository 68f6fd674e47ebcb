"""Shapes of the analytics endpoints: alerts, KPIs and the ML results (health, recommendations, registry)."""

from __future__ import annotations

from rest_framework import serializers

from analytics.kpis import WINDOWS
from analytics.models import Alert


class AlertSerializer(serializers.ModelSerializer):
    site_id = serializers.IntegerField(read_only=True)
    equipment_kind = serializers.CharField(read_only=True, help_text="truck, loader, crusher or stockpile")
    equipment_id = serializers.IntegerField(read_only=True)
    is_open = serializers.BooleanField(read_only=True, help_text="not cleared yet")
    acknowledged_by = serializers.CharField(
        source="acknowledged_by_name", read_only=True, allow_null=True, help_text="username"
    )
    cleared_by = serializers.CharField(
        source="cleared_by_name", read_only=True, allow_null=True, help_text="username"
    )

    class Meta:
        model = Alert
        fields = [
            "id", "site_id", "equipment_kind", "equipment_id", "equipment_name", "kind", "severity",
            "message", "raised_at", "last_raised_at", "repeat_count", "is_open", "acknowledged_at",
            "acknowledged_by", "cleared_at", "cleared_by",
        ]  # fmt: skip
        read_only_fields = fields


class AlertIdsSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000, help_text="alert ids"
    )


class AlertActionResultSerializer(serializers.Serializer):
    changed = serializers.IntegerField(
        help_text="alerts changed (already acknowledged or cleared ones are not)"
    )


# --- KPIs


class KpiQuerySerializer(serializers.Serializer):
    site = serializers.CharField(required=False, help_text="site id or slug (default: the default site)")
    window = serializers.ChoiceField(
        choices=["shift", *WINDOWS],
        required=False,
        help_text="a window ending now (the site's simulated clock): the current 12 h shift, 24h or 7d; "
        "default 24h",
    )
    locals()["from"] = serializers.DateTimeField(required=False, help_text="start (ISO 8601), with `to`")
    to = serializers.DateTimeField(required=False, help_text="end (ISO 8601), with `from`")

    def validate(self, attrs: dict) -> dict:
        custom = ("from" in attrs) + ("to" in attrs)
        if custom == 1:
            raise serializers.ValidationError(
                {"to" if "from" in attrs else "from": ["give both from and to"]}
            )
        if custom and "window" in attrs:
            raise serializers.ValidationError({"window": ["give either window or from/to, not both"]})
        if custom and attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"from": ["must be before `to`"]})
        if custom and (attrs["to"] - attrs["from"]).days > 31:
            raise serializers.ValidationError({"from": ["the window may be at most 31 days"]})
        return attrs


def _floats(help_texts: dict[str, str]) -> dict[str, serializers.Field]:
    return {
        name: serializers.FloatField(allow_null=True, help_text=text) for name, text in help_texts.items()
    }


def _serializer(name: str, fields: dict[str, serializers.Field]) -> type[serializers.Serializer]:
    return type(f"{name}Serializer", (serializers.Serializer,), fields)


KpiTonnes = _serializer(
    "KpiTonnes",
    {
        **_floats(
            {
                "ore_t": "ore dumped (t)",
                "waste_t": "waste dumped (t)",
                "total_t": "material moved (t)",
                "to_crushers_t": "tipped into crushers (t)",
                "to_waste_dumps_t": "tipped at waste dumps (t)",
            }
        ),
        "loads": serializers.IntegerField(),
        "dumps": serializers.IntegerField(),
    },
)
KpiCycle = _serializer(
    "KpiTruckCycle",
    {
        "cycles": serializers.IntegerField(help_text="completed cycles (dumps)"),
        **_floats(
            {
                "cycle_min": "mean cycle time (min): the sum of the parts",
                "queue_at_loader_min": "queued at the loader (min per cycle)",
                "load_min": "loading (min per cycle)",
                "haul_min": "hauling loaded (min per cycle)",
                "queue_at_dump_min": "queued at a crusher or waste dump (min per cycle)",
                "dump_min": "tipping (min per cycle)",
                "return_min": "returning empty (min per cycle)",
            }
        ),
    },
)
KpiQueues = _serializer(
    "KpiQueueTime",
    _floats(
        {
            "at_loaders_min": "mean queue per load (min)",
            "at_crushers_min": "mean queue per dump into a crusher (min)",
            "at_waste_dumps_min": "mean queue per dump at a waste dump (min)",
        }
    ),
)
KpiTrucks = _serializer(
    "KpiTrucks",
    {
        "trucks": serializers.IntegerField(help_text="trucks that loaded in the window"),
        **_floats(
            {
                "truck_hours": "truck-hours of history in the window",
                "physical_availability_pct": "(total - maintenance - breakdown) / total (%)",
                "utilisation_pct": "(available - standby) / available (%)",
            }
        ),
    },
)
KpiMatch = _serializer(
    "KpiMatchFactor",
    {
        "value": serializers.FloatField(
            allow_null=True, help_text="(trucks x loader cycle) / (loaders x truck cycle)"
        ),
        "trucks": serializers.IntegerField(),
        "loaders": serializers.IntegerField(help_text="loaders that loaded in the window"),
        **_floats({"loader_cycle_min": "minutes to load one truck", "truck_cycle_min": "truck cycle (min)"}),
    },
)
KpiPayload = _serializer(
    "KpiPayloadCompliance",
    {
        "loads": serializers.IntegerField(),
        **_floats(
            {
                "mean_payload_pct": "mean payload as a share of rated (%)",
                "over_110_pct": "loads above 110 % of rated (%); at most 10 allowed",
                "over_120_pct": "loads above 120 % of rated (%); none allowed",
            }
        ),
        "compliant": serializers.BooleanField(allow_null=True, help_text="meets the 10/10/20 policy"),
    },
)
KpiFuel = _serializer(
    "KpiFuel", _floats({"burned_l": "fuel burned (L)", "l_per_t": "fuel per tonne moved (L/t)"})
)
_CRUSHER_FIELDS = _floats(
    {
        "tonnes_t": "crushed (t)",
        "throughput_tph": "mean throughput over the window (t/h)",
        "utilisation_pct": "running / total time (%)",
        "availability_pct": "running / (total - planned maintenance) (%)",
        "performance_pct": "tonnes / (rated x running hours) (%)",
        "quality_pct": "100: no off-spec measure yet",
        "oee_pct": "availability x performance x quality (%)",
    }
)
KpiCrusher = _serializer(
    "KpiCrusher",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "rated_capacity_tph": serializers.FloatField(),
        **_CRUSHER_FIELDS,
    },
)
KpiCrushers = _serializer("KpiCrushers", {**_CRUSHER_FIELDS, "items": KpiCrusher(many=True)})
KpiStockpile = _serializer(
    "KpiStockpile",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        **_floats(
            {
                "level_t": "level at the end of the window (t)",
                "capacity_t": "capacity (t)",
                "utilisation_pct": "level / capacity (%)",
                "mean_reclaim_tph": "mean reclaim rate over the window (t/h)",
                "hours_of_cover": "level / mean reclaim rate (h); null when nothing is reclaimed",
            }
        ),
    },
)
KpiStockpiles = _serializer(
    "KpiStockpiles",
    {
        **_floats(
            {
                "level_t": "total on the piles (t)",
                "capacity_t": "total capacity (t)",
                "hours_of_cover": "total level / total reclaim (h)",
            }
        ),
        "items": KpiStockpile(many=True),
    },
)


class KpiSiteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


class KpiWindowSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="shift, 24h, 7d or custom")
    locals()["from"] = serializers.DateTimeField(help_text="inclusive start")
    to = serializers.DateTimeField(help_text="exclusive end")
    hours = serializers.FloatField()


class KpiSerializer(serializers.Serializer):
    site = KpiSiteSerializer()
    window = KpiWindowSerializer()
    tonnes = KpiTonnes()
    production_rate_tph = serializers.FloatField(allow_null=True, help_text="material moved per hour (t/h)")
    ore_rate_tph = serializers.FloatField(allow_null=True, help_text="ore moved per hour (t/h)")
    truck_cycle = KpiCycle()
    queue_time = KpiQueues()
    trucks = KpiTrucks()
    match_factor = KpiMatch()
    payload_compliance = KpiPayload()
    fuel = KpiFuel()
    crushers = KpiCrushers()
    stockpiles = KpiStockpiles()


# --- ML


class FactorSerializer(serializers.Serializer):
    feature = serializers.CharField(help_text="e.g. vibration_mm_s trend")
    contribution = serializers.FloatField(help_text="share of the prediction explained by this factor")


class HealthPredictionSerializer(serializers.Serializer):
    equipment_kind = serializers.ChoiceField(choices=["truck", "loader", "crusher"])
    equipment_id = serializers.IntegerField()
    equipment_name = serializers.CharField()
    health = serializers.FloatField(help_text="health score (%)")
    failure_probability = serializers.FloatField(help_text="probability of a failure in the horizon (0-1)")
    rul_h = serializers.FloatField(allow_null=True, help_text="estimated remaining useful life (h)")
    model_version = serializers.CharField()
    factors = FactorSerializer(many=True)


class RecommendationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="dispatch, maintenance, stockpile, ...")
    priority = serializers.ChoiceField(choices=["low", "medium", "high"])
    title = serializers.CharField()
    reasoning = serializers.CharField()
    expected_impact = serializers.CharField(help_text="e.g. +120 t/h at CR-01")
    status = serializers.ChoiceField(
        choices=["new", "accepted", "dismissed", "expired"], help_text="new: open, waiting for a decision"
    )
    created_at = serializers.DateTimeField()


class MlQuerySerializer(serializers.Serializer):
    site = serializers.CharField(required=False, help_text="site id or slug (default: the default site)")


class HealthQuerySerializer(MlQuerySerializer):
    equipment_kind = serializers.ChoiceField(choices=["truck", "loader", "crusher"], required=False)


class RecommendationQuerySerializer(MlQuerySerializer):
    status = serializers.ChoiceField(
        choices=["new", "accepted", "dismissed", "expired", "all"],
        required=False,
        help_text="default new (open ones); all for the history",
    )
    kind = serializers.CharField(required=False, help_text="maintenance, dispatch, stockpile, fleet_sizing")


class DecisionResultSerializer(serializers.Serializer):
    changed = serializers.BooleanField(help_text="false when it had already been decided or had expired")
    recommendation = RecommendationSerializer()


class ModelVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    version = serializers.IntegerField()
    label = serializers.CharField(help_text="kind@version, as model_version elsewhere")
    active = serializers.BooleanField()
    trained_at = serializers.DateTimeField()
    age_h = serializers.FloatField(help_text="hours since training (wall clock)")
    training_window = serializers.DictField(help_text="start and end (simulated time)")
    sites = serializers.ListField(child=serializers.IntegerField())
    features = serializers.ListField(child=serializers.CharField())
    metrics = serializers.DictField(help_text="validation figures")
    promotion = serializers.DictField(help_text="candidate vs active on the same validation rows, verdicts")
    artifact_path = serializers.CharField()
    sha256 = serializers.CharField()
    live = serializers.DictField(
        allow_null=True, help_text="active kinds: past predictions against what then happened"
    )


class RetrainRequestSerializer(serializers.Serializer):
    kinds = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="all (default), failure, anomaly or kinds"
    )
    force = serializers.BooleanField(default=False, help_text="activate even if worse")
