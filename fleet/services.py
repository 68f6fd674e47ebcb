"""Writes to the state of sites and their equipment: maintenance, pausing, dispatch strategy, hand-back.

Admin actions, commands, API views and tasks all call these; none write directly. Readings coming in live in
fleet.ingest, seeding in fleet.seeding and the tick's beat entries in fleet.schedules.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from fleet import liveness, locks, units
from fleet.choices import DispatchStrategy
from fleet.models import Site
from fleet.schedules import TICK_TASK
from fleet.sim import set_operator_status
from fleet.sim.state import SiteState
from smartmine.platform import audit
from smartmine.platform.models import AuditAction

MAINTENANCE = "maintenance"  # the same value in every status that has one (trucks, loaders, crushers)


class EquipmentStatusError(ValueError):
    """Raised for equipment that has no maintenance status (stockpiles, dumps)."""


def _set_status(equipment: Iterable[models.Model], *, to_maintenance: bool, actor=None) -> int:
    items = list(equipment)
    kinds = {}
    for item in items:
        unit_kind = units.of_model(type(item))
        if unit_kind is None or unit_kind.in_service is None:
            raise EquipmentStatusError(f"{item._meta.verbose_name} {item} cannot be sent to maintenance")
        kinds[type(item)] = unit_kind
    changed = 0
    states: dict[int, SiteState | None] = {}
    # The lock order (fleet.locks): sites first, so the tick never overwrites a status change with its own
    # in-flight copy of the state; then the units, by kind and id.
    sites = locks.lock_sites(item.site_id for item in items)
    for item in sorted(items, key=lambda unit: (unit._meta.label_lower, unit.pk)):
        unit_kind = kinds[type(item)]
        target = MAINTENANCE if to_maintenance else str(unit_kind.in_service)
        if to_maintenance == (item.status == MAINTENANCE):
            continue
        type(item).objects.filter(pk=item.pk).update(status=target)
        audit.record(
            actor=actor, action=AuditAction.STATUS_CHANGE, targets=[item], frm=item.status, to=target
        )
        item.status = target
        changed += 1
        states.setdefault(item.site_id, _engine_state(sites[item.site_id]))
        engine_state = states[item.site_id]
        if engine_state is not None and any(
            unit.id == item.pk for unit in getattr(engine_state, unit_kind.units)
        ):
            set_operator_status(engine_state, unit_kind.kind, item.pk, target)
    for site_id, engine_state in states.items():
        if engine_state is not None:
            sites[site_id].sim_state = engine_state.to_dict()
            sites[site_id].save(update_fields=["sim_state"])
    return changed


def _engine_state(site: Site) -> SiteState | None:
    """The site's engine state, or None for a site that is not simulated (no stored state)."""
    return SiteState.from_dict(site.sim_state) if site.sim_state else None


@transaction.atomic
def send_to_maintenance(*, equipment: Iterable[models.Model], actor=None) -> int:
    """Take trucks, loaders or crushers out of service for planned maintenance; returns how many changed."""
    return _set_status(equipment, to_maintenance=True, actor=actor)


@transaction.atomic
def return_to_service(*, equipment: Iterable[models.Model], actor=None) -> int:
    """Put equipment back into service from maintenance (trucks wait for dispatch, the rest idle)."""
    return _set_status(equipment, to_maintenance=False, actor=actor)


@transaction.atomic
def hand_back_to_simulator(*, equipment: Iterable[models.Model], actor=None) -> int:
    """An operator's choice for units fed by telemetry (live or stale): the simulator takes them over again
    from the next tick, from the engine state it kept for them (where it last simulated them; docs/live.md).
    Returns how many changed; units already simulated are left alone. Audited as a status change from their
    telemetry state to `simulated`.

    A unit that sends telemetry again afterwards becomes live again by itself (fleet.ingest).
    """
    items = list(equipment)
    for item in items:
        if units.of_model(type(item)) is None:
            raise EquipmentStatusError(f"{item._meta.verbose_name} {item} is not simulated equipment")
    locks.lock_sites(item.site_id for item in items)  # the lock order (fleet.locks): sites, then units
    by_model: dict[type[models.Model], list[models.Model]] = {}
    for item in items:
        by_model.setdefault(type(item), []).append(item)
    now, changed = timezone.now(), 0
    for model in sorted(by_model, key=lambda model: model._meta.label_lower):
        chosen = {item.pk: item for item in by_model[model]}
        with connection.cursor() as cursor:
            locks.lock_units(cursor, model._meta.db_table, sorted(chosen))
        reports = any(field.name == "last_reading_at" for field in model._meta.fields)  # loaders: no readings
        live_rows = model.objects.filter(pk__in=list(chosen), live=True)
        columns = ("pk", "last_reading_at" if reports else "pk")
        for pk, last_reading_at in sorted(live_rows.values_list(*columns)):
            last_reading_at = last_reading_at if reports else None
            state = liveness.telemetry_state(
                live=True, last_reading_at=last_reading_at, now=now,
                stale_after_s=settings.TELEMETRY_STALE_AFTER_S,
            )  # fmt: skip
            model.objects.filter(pk=pk).update(live=False)
            audit.record(
                actor=actor, action=AuditAction.STATUS_CHANGE, targets=[chosen[pk]], frm=str(state),
                to=str(liveness.TelemetryState.SIMULATED),
                last_reading_at=last_reading_at.isoformat() if last_reading_at else None,
            )  # fmt: skip
            chosen[pk].live = False
            changed += 1
    return changed


@transaction.atomic
def set_site_paused(*, sites: Iterable[Site], paused: bool, actor=None) -> int:
    """Pause or resume the simulation of sites; returns how many changed."""
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    ids = sorted(locks.lock_sites(site.pk for site in sites))
    to_change = list(Site.objects.filter(pk__in=ids).exclude(paused=paused))
    audit.record(actor=actor, action=AuditAction.PAUSE_SITE, targets=to_change, paused=paused)
    changed = Site.objects.filter(pk__in=ids).exclude(paused=paused).update(paused=paused)
    PeriodicTask.objects.filter(task=TICK_TASK, args__in=[f"[{pk}]" for pk in ids]).update(enabled=not paused)
    PeriodicTasks.update_changed()  # a queryset update sends no signal: tell beat to reload its schedule
    return changed


@transaction.atomic
def set_dispatch_strategy(*, site: Site, strategy: str, actor=None) -> bool:
    """Choose how the site's dispatcher assigns trucks; the next tick uses it. Returns whether it changed."""
    if strategy not in DispatchStrategy.values:
        raise ValueError(f"unknown dispatch strategy {strategy!r}")
    locks.lock_sites([site.pk])  # a tick in progress finishes with the strategy it started with
    changed = Site.objects.filter(pk=site.pk).exclude(dispatch_strategy=strategy)
    if changed.exists():
        audit.record(
            actor=actor, action=AuditAction.SITE_SETTINGS, targets=[site], dispatch_strategy=strategy
        )
    changed = changed.update(dispatch_strategy=strategy)
    site.dispatch_strategy = strategy
    return bool(changed)
