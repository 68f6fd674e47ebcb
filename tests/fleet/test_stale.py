"""Live and stale on the real database and channel layer: a silent live unit turns stale (REST, the tick's
live frame, its silence alarm), speaks again and is live again, or an operator hands it to the simulator."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.urls import reverse
from django.utils import timezone

from analytics.alerts import alarms
from analytics.alerts.models import Alert
from fleet import seeding, ticking
from fleet.ingest import ingest_telemetry
from fleet.models import Truck, TruckReading
from plants.models import Crusher
from smartmine.platform import live
from smartmine.platform.models import AuditAction, AuditEntry
from stockpiles.models import Stockpile
from tests.apiclients import assert_error, role_client
from tests.factories import operator, reading

pytestmark = pytest.mark.django_db

STALE_AFTER_S = 60


@pytest.fixture(autouse=True)
def _stale_after_a_minute(settings):
    settings.TELEMETRY_STALE_AFTER_S = STALE_AFTER_S
    alarms.forget()
    yield
    alarms.forget()


@pytest.fixture
def site():
    return seeding.seed_site(name="Stale pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site


def report(unit, ts: dt.datetime, kind: str = "truck") -> None:
    """One reading from the unit's gateway, through the one ingestion function."""
    status = {"truck": "hauling", "crusher": "running"}.get(kind, "normal")
    row = reading(kind, unit.pk, ts, status, fuel_l=500.0)  # fuel (trucks only) within every tank
    result = ingest_telemetry(items=[{"kind": kind, **row, "ts": ts.isoformat()}])
    assert result.accepted == 1, result.rejected


def published_frame(callback, site_id: int, stream: str = "trucks") -> dict:
    """Run a tick's commit hook while listening on the site's group of the real channel layer."""

    async def listen() -> dict:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(live.channel_group(stream, site_id), channel)
        await sync_to_async(callback)()
        return json.loads((await asyncio.wait_for(layer.receive(channel), 5))["text"])

    return async_to_sync(listen)()


def test_a_silent_live_truck_is_stale_on_rest_with_its_last_reading_and_live_again_when_it_speaks(site):
    truck = Truck.objects.filter(site=site).first()
    client = role_client("viewer")
    simulated = client.get(f"/api/trucks/{truck.pk}").json()
    assert (simulated["telemetry"], simulated["stale_since"]) == ("simulated", None)

    last = timezone.now() - dt.timedelta(seconds=100)
    report(truck, last)
    row = client.get(f"/api/trucks/{truck.pk}").json()
    assert row["live"] and row["telemetry"] == "stale"
    assert dt.datetime.fromisoformat(row["last_reading_at"]) == last
    assert dt.datetime.fromisoformat(row["stale_since"]) == last + dt.timedelta(seconds=STALE_AFTER_S)
    listed = client.get("/api/trucks", {"site": site.pk}).json()["results"]
    assert {item["id"]: item["telemetry"] for item in listed}[truck.pk] == "stale"

    report(truck, timezone.now() - dt.timedelta(seconds=1))
    row = client.get(f"/api/trucks/{truck.pk}").json()
    assert (row["telemetry"], row["stale_since"]) == ("live", None)


def test_crushers_and_stockpiles_carry_the_same_state(site):
    crusher, pile = Crusher.objects.get(site=site), Stockpile.objects.get(site=site)
    report(crusher, timezone.now() - dt.timedelta(seconds=5), kind="crusher")
    report(pile, timezone.now() - dt.timedelta(seconds=500), kind="stockpile")
    client = role_client("viewer")
    assert client.get(f"/api/crushers/{crusher.pk}").json()["telemetry"] == "live"
    assert client.get(f"/api/stockpiles/{pile.pk}").json()["telemetry"] == "stale"


def test_the_tick_publishes_a_truck_that_turned_stale_then_live_again_and_raises_then_clears_its_alarm(
    site, django_capture_on_commit_callbacks
):
    truck, quiet = Truck.objects.filter(site=site).order_by("pk")[:2]
    silent_since = timezone.now() - dt.timedelta(seconds=100)
    report(truck, silent_since)
    report(quiet, timezone.now() - dt.timedelta(seconds=200))  # simulated, then stale at once (a backlog)
    ticking.tick_site(site.pk, dt_s=5, now=silent_since + dt.timedelta(seconds=10))  # it was live then

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ticking.tick_site(site.pk, dt_s=5)  # now: silent for 100 s, stale from 60 s
    frame = published_frame(callbacks[-1], site.pk)  # after the alarm publisher's
    trucks = {item["id"]: item for item in frame["data"] if item["kind"] == "truck"}
    assert trucks[truck.pk]["telemetry"] == "stale"
    assert dt.datetime.fromisoformat(trucks[truck.pk]["last_reading_at"]) == silent_since
    stale_since = dt.datetime.fromisoformat(trucks[truck.pk]["stale_since"])
    assert stale_since == silent_since + dt.timedelta(seconds=STALE_AFTER_S)
    assert trucks[quiet.pk]["telemetry"] == "stale"  # every unit fed by telemetry, each tick
    silence = Alert.objects.get(kind="truck_silent", equipment_id=truck.pk)
    assert silence.is_open and silence.rule.field == "telemetry"

    report(truck, timezone.now() - dt.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ticking.tick_site(site.pk, dt_s=5)
    frame = published_frame(callbacks[-1], site.pk)  # after the alarm publisher's
    trucks = {item["id"]: item for item in frame["data"] if item["kind"] == "truck"}
    assert trucks[truck.pk]["telemetry"] == "live"
    silence.refresh_from_db()
    assert not silence.is_open
    assert Alert.objects.get(kind="truck_silent", equipment_id=quiet.pk).is_open


def test_an_operator_hands_a_stale_truck_back_to_the_simulator_audited(site):
    truck = Truck.objects.filter(site=site).first()
    report(truck, timezone.now() - dt.timedelta(seconds=100))
    ticking.tick_site(site.pk, dt_s=5)
    assert Alert.objects.get(kind="truck_silent", equipment_id=truck.pk).is_open
    url = f"/api/trucks/{truck.pk}/hand-back"
    assert_error(role_client("viewer").post(url), 403, "permission_denied")
    assert_error(role_client("gateway").post(url), 403, "permission_denied")

    response = role_client("operator").post(url)

    assert response.status_code == 200, response.content
    assert (response.json()["live"], response.json()["telemetry"]) == (False, "simulated")
    entry = AuditEntry.objects.get(action=AuditAction.STATUS_CHANGE, target__contains=truck.name)
    assert (entry.detail["frm"], entry.detail["to"]) == ("stale", "simulated")
    readings_before = TruckReading.objects.filter(equipment=truck).count()
    ticking.tick_site(site.pk, dt_s=60, now=timezone.now() + dt.timedelta(seconds=5))
    assert TruckReading.objects.filter(equipment=truck).count() == readings_before + 1  # simulated again
    assert not Alert.objects.get(kind="truck_silent", equipment_id=truck.pk).is_open
    assert_error(role_client("operator").post(url), 409, "conflict")

    report(truck, timezone.now() - dt.timedelta(seconds=1))  # it speaks again: live by itself
    assert role_client("viewer").get(f"/api/trucks/{truck.pk}").json()["telemetry"] == "live"


def test_an_operator_hands_stockpiles_back_from_the_admin(client, site):
    pile = Stockpile.objects.get(site=site)
    report(pile, timezone.now() - dt.timedelta(seconds=500), kind="stockpile")
    client.force_login(operator())
    changelist = reverse("admin:stockpiles_stockpile_changelist")
    assert "stale since" in client.get(changelist).content.decode()

    client.post(changelist, {"action": "hand_back_to_simulator", "_selected_action": [pile.pk]})

    pile.refresh_from_db()
    assert not pile.live
    assert AuditEntry.objects.filter(action=AuditAction.STATUS_CHANGE, target__contains=pile.name).exists()


@pytest.mark.parametrize(
    ("path", "model", "kind"), [("crushers", Crusher, "crusher"), ("stockpiles", Stockpile, "stockpile")]
)
def test_crushers_and_stockpiles_are_handed_back_by_engineers_too(site, path, model, kind):
    unit = model.objects.get(site=site)
    report(unit, timezone.now() - dt.timedelta(seconds=5), kind=kind)  # live, not even stale: their choice
    response = role_client("engineer").post(f"/api/{path}/{unit.pk}/hand-back")
    assert response.status_code == 200, response.content
    assert response.json()["telemetry"] == "simulated"
    unit.refresh_from_db()
    assert not unit.live


def test_lists_filter_by_telemetry_state_as_the_rows_say_it(site):
    speaking, silent, simulated = Truck.objects.filter(site=site).order_by("pk")
    report(speaking, timezone.now() - dt.timedelta(seconds=5))
    report(silent, timezone.now() - dt.timedelta(seconds=STALE_AFTER_S + 1))
    client = role_client("viewer")
    for state, expected in (("live", speaking), ("stale", silent), ("simulated", simulated)):
        rows = client.get("/api/trucks", {"site": site.pk, "telemetry": state}).json()["results"]
        assert [(row["id"], row["telemetry"]) for row in rows] == [(expected.pk, state)]
    assert_error(client.get("/api/trucks", {"telemetry": "asleep"}), 400, "invalid")
