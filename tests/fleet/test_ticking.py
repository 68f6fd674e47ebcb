"""Simulation ticks on the real database and channel layer: applied once, atomic, published after commit."""

import asyncio
import datetime as dt
import json
import threading

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone

from fleet import partitions, schedules, seeding, services, ticking
from fleet.models import FaultLabel, SimEvent, Site, Truck, TruckReading
from plants.models import CrusherReading
from smartmine.platform import live
from stockpiles.models import StockpileReading

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site():
    return seeding.seed_site(name="Tick pit", trucks=6, crushers=1, stockpiles=1, loaders=2).site


def later(site, seconds):
    site.refresh_from_db()
    return site.last_tick_at + dt.timedelta(seconds=seconds)


def test_a_tick_moves_the_mine_and_stores_readings_state_and_events(site):
    positions_before = dict(Truck.objects.filter(site=site).values_list("id", "lat"))
    outcome = ticking.tick_site(site.pk, dt_s=600)
    assert outcome.applied and outcome.tick == 1
    site.refresh_from_db()
    assert site.tick == 1 and site.last_tick_at is not None
    assert TruckReading.objects.filter(equipment__site=site).count() == 6
    assert CrusherReading.objects.count() == 1 and StockpileReading.objects.count() == 1
    assert SimEvent.objects.filter(site=site).exists()  # ten minutes: trucks were assigned, queued, loaded
    positions_after = dict(Truck.objects.filter(site=site).values_list("id", "lat"))
    assert positions_after != positions_before
    assert site.sim_state["tick"] == site.tick  # engine state saved with the tick


def test_a_second_firing_within_the_interval_is_skipped(site, settings):
    settings.SIMULATION_INTERVAL_S = 5.0
    first = ticking.tick_site(site.pk, now=timezone.now())
    again = ticking.tick_site(site.pk, now=later(site, 1))
    assert first.applied and not again.applied and again.reason.startswith("too soon")
    assert ticking.tick_site(site.pk, now=later(site, 5)).applied
    site.refresh_from_db()
    assert site.tick == 2


def test_concurrent_workers_apply_one_tick_exactly_once(site, settings):
    settings.SIMULATION_INTERVAL_S = 5.0
    now = timezone.now()
    outcomes, barrier = [], threading.Barrier(4)

    def work():
        barrier.wait()
        try:
            outcomes.append(ticking.tick_site(site.pk, now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(outcome.applied for outcome in outcomes) == 1
    site.refresh_from_db()
    assert site.tick == 1
    assert TruckReading.objects.filter(equipment__site=site).count() == 6


def test_a_failing_tick_writes_nothing(site, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ticking, "_save_labels", fail)  # fails after readings and state were written
    events = list(SimEvent.objects.values_list("pk", flat=True))  # the seeded units' service records
    with pytest.raises(RuntimeError):
        ticking.tick_site(site.pk, dt_s=60)
    site.refresh_from_db()
    assert site.tick == 0 and site.last_tick_at is None
    assert not TruckReading.objects.exists()
    assert list(SimEvent.objects.values_list("pk", flat=True)) == events


def test_a_paused_site_is_not_ticked(site):
    services.set_site_paused(sites=[site], paused=True)
    outcome = ticking.tick_site(site.pk, dt_s=60)
    assert not outcome.applied and outcome.reason == "paused"


def test_operator_maintenance_holds_through_ticks_and_return_restores_service(site):
    truck = Truck.objects.filter(site=site).first()
    services.send_to_maintenance(equipment=[truck])
    ticking.tick_site(site.pk, dt_s=600)
    truck.refresh_from_db()
    assert truck.status == "maintenance"
    services.return_to_service(equipment=[truck])
    ticking.tick_site(site.pk, dt_s=60)
    truck.refresh_from_db()
    assert truck.status != "maintenance"


def test_live_equipment_is_not_moved_by_the_simulator(site):
    truck = Truck.objects.filter(site=site).first()
    Truck.objects.filter(pk=truck.pk).update(live=True, lat=-22.0, lon=118.0)
    ticking.tick_site(site.pk, dt_s=600)
    truck.refresh_from_db()
    assert (truck.lat, truck.lon) == (-22.0, 118.0)
    assert not TruckReading.objects.filter(equipment=truck).exists()


def test_fault_labels_record_the_ground_truth_of_injected_faults(site):
    state = ticking.load_state(site)
    state.config.anomaly_rate_per_unit_h = 50.0  # make an injected anomaly certain within the hour
    state.next_anomaly_s = None  # reschedule at the new rate
    Site.objects.filter(pk=site.pk).update(sim_state=state.to_dict())
    ticking.tick_site(site.pk, dt_s=60)  # the engine schedules the next anomaly at the end of a step
    ticking.tick_site(site.pk, dt_s=3600, now=timezone.now() + dt.timedelta(seconds=10))
    label = FaultLabel.objects.filter(site=site).first()
    assert (
        label is not None
        and label.started_at is not None
        and label.unit_kind in {"truck", "crusher", "stockpile"}
    )


@pytest.mark.django_db(transaction=False)  # on_commit callbacks are captured, not run, in a test transaction
def test_updates_are_published_to_the_site_groups_only_after_commit(site, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ticking.tick_site(site.pk, dt_s=60)
    # nothing is sent before the transaction commits (apps above fleet may add their own: kpi_update)
    callbacks = [callback for callback in callbacks if callback.__qualname__.startswith("tick_site.")]
    assert len(callbacks) == 1

    async def listen_while_committing() -> dict:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(live.channel_group("trucks", site.pk), channel)
        await sync_to_async(callbacks[0])()  # the commit hook publishes through the real layer
        return await asyncio.wait_for(layer.receive(channel), 5)

    message = async_to_sync(listen_while_committing)()
    frame = json.loads(message["text"])
    assert frame["type"] == "truck_update" and frame["site"] == site.pk
    trucks = [item for item in frame["data"] if item["kind"] == "truck"]
    assert len(trucks) == 6 and {"lat", "lon", "payload_t", "fuel_l", "health", "status"} <= set(trucks[0])


def test_a_failed_broadcast_never_fails_the_tick(site, monkeypatch):
    def broken_publish(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(ticking, "publish_tick", broken_publish)
    outcome = ticking.tick_site(site.pk, dt_s=60)
    assert outcome.applied
    site.refresh_from_db()
    assert site.tick == 1


def test_readings_cross_a_day_boundary_into_their_own_partitions(site):
    state = ticking.load_state(site)
    midnight = dt.datetime.combine(timezone.now().date() + dt.timedelta(days=3), dt.time(), dt.UTC)
    state.clock_s = midnight.timestamp() - 30
    Site.objects.filter(pk=site.pk).update(sim_state=state.to_dict())
    ticking.tick_site(site.pk, dt_s=20)
    ticking.tick_site(site.pk, dt_s=20, now=timezone.now() + dt.timedelta(seconds=10))
    days = {ts.date() for ts in TruckReading.objects.values_list("ts", flat=True)}
    assert len(days) == 2
    tables = partitions.partitions(TruckReading._meta.db_table)
    assert any(f"{midnight:%Y%m%d}" in name for name in tables)


def test_the_optimiser_strategy_keeps_its_plan_between_ticks(site):
    Site.objects.filter(pk=site.pk).update(dispatch_strategy="optimiser")
    ticking.tick_site(site.pk, dt_s=300)
    site.refresh_from_db()
    assert site.dispatch_state  # the LP plan, saved with the tick
    assert Truck.objects.filter(site=site, assigned_loader__isnull=False).exists()


def test_the_interval_an_operator_sets_in_beat_governs_duplicate_detection(site, settings):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    settings.SIMULATION_INTERVAL_S = 5.0
    schedules.sync_tick_schedules(interval_s=5.0)
    every_2_s, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(args=f"[{site.pk}]").update(interval=every_2_s)
    assert ticking.tick_site(site.pk, now=timezone.now()).applied
    assert ticking.tick_site(site.pk, now=later(site, 2)).applied  # 2 s is a full interval now
