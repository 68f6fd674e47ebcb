"""GET /api/mining/kpis: a site's KPIs over a window, computed in SQL over the history (docs/kpis.md)."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.kpis import formulas, live
from analytics.kpis.formulas import WINDOWS
from analytics.pages import requested_site
from smartmine.platform import readmodel
from smartmine.platform.api.fields import ChoiceField, SiteField


class KpiQuerySerializer(serializers.Serializer):
    site = SiteField(required=False)
    window = ChoiceField(
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
KpiTimeUsage = _serializer(
    "KpiTimeUsage",
    {
        name: serializers.FloatField(help_text=text)
        for name, text in {
            "calendar": "hours that hold data (unit-hours): downtime + available",
            "downtime": "planned + unplanned downtime (h)",
            "planned_downtime": "maintenance (h)",
            "unplanned_downtime": "breakdowns (h)",
            "available": "standby + utilised (h)",
            "standby": "available, not used: a truck without assignment, a starved crusher (h)",
            "utilised": "operating delays + operating (h)",
            "operating_delay": "queueing and refuelling trucks, a blocked crusher (h)",
            "operating": "hauling, loading, dumping, returning trucks; a running crusher (h)",
        }.items()
    },
)
_TIME_FIELDS = {
    **_floats(
        {
            "physical_availability_pct": "available / calendar time (%): only downtime is lost",
            "use_of_availability_pct": "utilised / available time (%): standby is available, not used",
            "effective_utilisation_pct": "utilised / calendar time (%): availability x use of availability",
            "operating_share_pct": "operating / utilised time (%): what operating delays leave",
            "coverage_pct": "share of the window that holds data (%)",
        }
    ),
    "time_usage_h": KpiTimeUsage(help_text="the GMG time usage model's buckets, in hours"),
}
KpiTrucks = _serializer(
    "KpiTrucks",
    {
        "trucks": serializers.IntegerField(help_text="trucks that loaded in the window"),
        **_floats(
            {
                "truck_hours": "truck-hours of history in the window (calendar time)",
                "utilisation_pct": "use of availability: utilised / available time (%)",
            }
        ),
        **_TIME_FIELDS,
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
_CRUSHER_FIELDS = {
    **_floats(
        {
            "tonnes_t": "crushed (t)",
            "throughput_tph": "tonnes per covered hour (t/h); the plant's is the sum of its crushers' rates",
            "utilisation_pct": "use of availability: utilised / available time (%)",
            "availability_pct": "physical availability: available / calendar time (%)",
            "oee_availability_pct": "OEE's availability: operating / (calendar - planned downtime) (%)",
            "performance_pct": "tonnes / (rated x operating hours) (%)",
            "quality_pct": "100: no off-spec measure yet",
            "oee_pct": "OEE availability x performance x quality (%)",
        }
    ),
    **_TIME_FIELDS,
}
KpiCrusher = _serializer(
    "KpiCrusher",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "rated_capacity_tph": serializers.FloatField(),
        **_CRUSHER_FIELDS,
    },
)
KpiOeeLosses = _serializer(
    "KpiOeeLosses",
    {
        factor: serializers.ListField(child=serializers.CharField(), help_text=text)
        for factor, text in {
            "availability": "time buckets OEE's availability counts as lost (planned downtime is not)",
            "performance": "what performance counts as lost",
            "quality": "what quality counts as lost (nothing measured yet)",
        }.items()
    },
)
KpiCrushers = _serializer(
    "KpiCrushers",
    {**_CRUSHER_FIELDS, "oee_losses": KpiOeeLosses(), "items": KpiCrusher(many=True)},
)
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
    timezone = serializers.CharField(help_text="the site's IANA time zone, in which shifts start")


class KpiCoverageSerializer(serializers.Serializer):
    window_hours = serializers.FloatField()
    covered_hours = serializers.FloatField(
        allow_null=True, help_text="hours of the window with truck data (mean per truck that reported)"
    )
    pct = serializers.FloatField(allow_null=True, help_text="the lower of trucks_pct and crushers_pct (%)")
    trucks_pct = serializers.FloatField(allow_null=True, help_text="truck-hours held / (trucks x window) (%)")
    crushers_pct = serializers.FloatField(
        allow_null=True, help_text="crusher-hours held / (crushers x window) (%)"
    )
    low = serializers.BooleanField(help_text="less than 80 % of the window holds data, or none does")
    note = serializers.CharField(allow_null=True, help_text="what low coverage means for the figures")


class KpiSerializer(serializers.Serializer):
    site = KpiSiteSerializer()
    window = KpiWindowSerializer()
    as_of = serializers.DateTimeField(
        help_text="the simulated time the figures run to: the end of the window, or the site's clock if "
        "earlier; for the current shift, up to a simulated minute before the clock (computed by the tick)"
    )
    tonnes = KpiTonnes()
    production_rate_tph = serializers.FloatField(
        allow_null=True, help_text="material moved per covered hour (t/h)"
    )
    ore_rate_tph = serializers.FloatField(allow_null=True, help_text="ore moved per covered hour (t/h)")
    truck_cycle = KpiCycle()
    queue_time = KpiQueues()
    trucks = KpiTrucks()
    match_factor = KpiMatch()
    payload_compliance = KpiPayload()
    fuel = KpiFuel()
    crushers = KpiCrushers()
    stockpiles = KpiStockpiles()
    coverage = KpiCoverageSerializer(help_text="how much of the window holds data")


class KpiView(APIView):
    """GET /api/mining/kpis: the site's KPIs over a window, from the KPI ledgers (the current shift: as the
    tick computed them this simulated minute)."""

    #: The kept shift figures carry an ETag (If-None-Match: 304), documented by SchemaWithErrors.
    answers_not_modified = True

    @extend_schema(
        summary="Mining KPIs of a site over a window",
        description=(
            "Tonnes moved (ore, waste), production rate, truck cycle time and its parts, queue time at "
            "loaders and crushers, the GMG time usage model of trucks and crushers (hours per bucket, "
            "physical availability, use of availability, effective utilisation), match factor, payload "
            "compliance (10/10/20), fuel per tonne, crusher throughput and OEE, stockpile level and hours "
            "of cover, and how much of the window holds data (`coverage`: rates are per covered hour). Each "
            "is defined in docs/kpis.md. A value is null when its denominator is zero (no data). Choose "
            "`window` (shift, 24h, 7d; ending at the site's simulated clock; shifts in the site's time "
            "zone) or `from` and `to`. Rules the schema cannot express, refused with 400 naming the field: "
            "`from` and `to` come together, not with `window`; `from` is before `to`; at most 31 days. "
            "`window=shift` is answered from the figures the tick computes once a simulated minute (the "
            "`kpi_update` of the live stream) while the site's clock is in that minute: `as_of` says to "
            "when they run."
        ),
        parameters=[KpiQuerySerializer],
        responses={200: KpiSerializer},
    )
    def get(self, request: Request) -> HttpResponse:
        query = KpiQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        site = requested_site(params.get("site"))
        if "from" not in params and params.get("window") == "shift":
            kept = live.kept_shift_answer(site)  # computed by the tick at this simulated minute
            if kept is not None:
                etag, content = kept
                return readmodel.conditional_response(request, etag, lambda: content)
        if "from" in params:
            name, start, end = "custom", params["from"], params["to"]
        else:
            name = params.get("window", "24h")
            start, end = formulas.window(name, site.sim_clock or timezone.now(), site.timezone)
        return Response(live.kpi_body(site, name=name, start=start, end=end, clock=site.sim_clock))


def kept_shift_for(site_value: str | None) -> tuple[str, bytes] | None:
    """(ETag, bytes) KpiView answers `?window=shift[&site=…]` with from the tick's copy, None when the view
    would compute them or refuse the query (smartmine.platform.fastlist answers before Django with this)."""
    data = {"window": "shift"} if site_value is None else {"window": "shift", "site": site_value}
    query = KpiQuerySerializer(data=data)
    if not query.is_valid():
        return None
    try:
        site = requested_site(query.validated_data.get("site"))
    except (Http404, exceptions.NotFound):
        return None
    return live.kept_shift_answer(site)
