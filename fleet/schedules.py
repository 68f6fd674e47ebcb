"""The beat schedule of simulation ticks: one django-celery-beat entry per site."""

from __future__ import annotations

from django.db import transaction

from fleet.models import Site

TICK_TASK = "fleet.tasks.tick_site_task"


def tick_task_name(site: Site) -> str:
    return f"Simulation tick: {site.name}"


@transaction.atomic
def sync_tick_schedules(*, interval_s: float) -> int:
    """One beat entry per site ticking it every interval_s (enabled while not paused); returns how many.

    Entries are ordinary django-celery-beat PeriodicTasks, so operators can retime or disable them in
    admin; an existing entry keeps the schedule an operator gave it. Each firing expires after one
    interval, so a backlog of stale ticks is dropped instead of run late.
    """
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    microseconds = max(1, round(interval_s * 1_000_000))
    if microseconds % 1_000_000 == 0:
        every, period = microseconds // 1_000_000, IntervalSchedule.SECONDS
    else:
        every, period = microseconds, IntervalSchedule.MICROSECONDS
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    count = 0
    for site in Site.objects.order_by("pk"):
        task, _ = PeriodicTask.objects.get_or_create(
            task=TICK_TASK,
            args=f"[{site.pk}]",
            defaults={
                "name": tick_task_name(site),
                "interval": schedule,
                "expire_seconds": max(1, round(interval_s)),
            },
        )
        if task.enabled == site.paused:
            task.enabled = not site.paused
            task.save(update_fields=["enabled"])
        count += 1
    return count
