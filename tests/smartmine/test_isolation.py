"""Workload isolation with the processes `make run` starts: a scenario storm does not delay ticks, a tick
never waits behind another site's tick, a worker killed mid-scenario leaves it failed and re-runnable.

Real PostgreSQL (the test database), a private Redis (the real queue names without meeting anyone else's
workers), and runsystem's own command lines for web, the workers and beat.
"""

import os
import shutil
import signal
import time

import psycopg
import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token

from bench.soak_processes import descendants
from fleet import seeding
from fleet.models import Site
from fleet.schedules import sync_tick_schedules
from smartmine.celery import app
from smartmine.management.commands.runsystem import WORKERS
from tests.factories import UserFactory
from tests.processes import api_call as call
from tests.processes import current_database_url, private_redis, running_layout
from tests.processes import tick_age_s as site_tick_age_s
from tests.smartmine.test_faults import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server for a private Redis"),
]
INTERVAL = {"SIMULATION_INTERVAL": "1"}


def test_every_task_has_a_queue_and_only_the_tick_is_on_the_tick_queue():
    routes = settings.CELERY_TASK_ROUTES
    project_tasks = {name for name in app.tasks if not name.startswith("celery.")}
    assert project_tasks <= routes.keys()
    assert {name for name, route in routes.items() if route["queue"] == settings.TICK_QUEUE} == {
        "fleet.tasks.tick_site_task"
    }
    assert settings.CELERY_TASK_DEFAULT_QUEUE != settings.TICK_QUEUE
    served = [queue for queues, _ in WORKERS.values() for queue in queues]
    assert sorted(served) == sorted(settings.CELERY_TASK_QUEUES)  # each queue has exactly one worker
    queues, concurrency = WORKERS["worker-ticks"]
    assert (
        queues == (settings.TICK_QUEUE,)
        and concurrency >= 2
        and settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    )


def small_site(name: str) -> Site:
    return seeding.seed_site(name=name, trucks=4, crushers=1, stockpiles=1, loaders=2).site


def tick_age_s(site: Site) -> float:
    return site_tick_age_s(site.pk)


def test_a_scenario_storm_does_not_delay_ticks(tmp_path):
    site = small_site("Storm pit")
    sync_tick_schedules(interval_s=1)
    token = Token.objects.create(user=UserFactory(is_superuser=True)).key  # groups are flushed here
    with (
        private_redis(tmp_path) as redis_url,
        running_layout(redis_url=redis_url, workdir=tmp_path, **INTERVAL) as system,
    ):
        wait_until(lambda: tick_age_s(site) < 2, timeout_s=90, what="beat to tick the site")
        # The storm of issue 16: four scenarios queued at once. Two seeds each, not the API's five, to keep
        # the suite short: each still takes the batch worker for seconds while the site ticks every second
        # (bench_isolation runs the defaults, with a retrain).
        ids = []
        for n in range(4):
            status, body = call(
                system.api_port,
                "/api/scenarios",
                token,
                {"site": site.slug, "name": f"storm {n}", "seeds": 2, "shift_hours": 8},
            )
            assert status == 202, body
            ids.append(body["id"])
        ages, health, running_at_once = [], [], []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            ages.append(tick_age_s(site))
            health.append(call(system.api_port, "/api/health")[0])
            statuses = list(site.scenarios.filter(pk__in=ids).values_list("status", flat=True))
            running_at_once.append(statuses.count("running"))
            if all(status == "done" for status in statuses) and len(ages) >= 10:
                break
            time.sleep(1)
    assert all(status == "done" for status in statuses), statuses
    assert max(running_at_once) == 1  # the batch worker runs one at a time
    assert max(ages) < 4, ages  # interval 1 s: the twin kept ticking while the storm ran
    assert set(health) == {200}, health


def test_a_tick_never_waits_behind_another_sites_tick(tmp_path):
    stuck, live = small_site("Stuck pit"), small_site("Live pit")
    sync_tick_schedules(interval_s=1)
    names = ("worker-ticks", "beat")
    with (
        private_redis(tmp_path) as redis_url,
        running_layout(redis_url=redis_url, workdir=tmp_path, names=names, **INTERVAL),
        psycopg.connect(current_database_url()) as blocker,
    ):
        wait_until(lambda: tick_age_s(stuck) < 2 and tick_age_s(live) < 2, timeout_s=90, what="both ticking")
        # Hold the stuck site's trucks: its next tick blocks mid-transaction in one tick process.
        blocker.execute("SELECT id FROM fleet_truck WHERE site_id = %s FOR UPDATE", [stuck.pk])
        wait_until(lambda: tick_age_s(stuck) > 3, what="the stuck site's tick to block")
        before = Site.objects.get(pk=live.pk).tick
        time.sleep(5)
        assert Site.objects.get(pk=live.pk).tick >= before + 3  # the other process kept ticking the live site
        assert tick_age_s(live) < 3
        blocker.rollback()
        wait_until(lambda: tick_age_s(stuck) < 2, timeout_s=30, what="the stuck site to tick again")


def test_a_worker_killed_mid_scenario_leaves_it_failed_and_it_can_run_again(tmp_path):
    site = small_site("Killed pit")
    token = Token.objects.create(user=UserFactory(is_superuser=True)).key  # groups are flushed here
    long_run = {"site": site.slug, "seeds": 20, "shift_hours": 24}
    with (
        private_redis(tmp_path) as redis_url,
        running_layout(redis_url=redis_url, workdir=tmp_path, names=("web", "worker-batch")) as system,
    ):
        status, body = call(system.api_port, "/api/scenarios", token, long_run)
        assert status == 202, body
        scenario = site.scenarios.get(pk=body["id"])

        def progress() -> tuple[str, int]:
            scenario.refresh_from_db()
            return scenario.status, scenario.progress_pct

        wait_until(lambda: progress()[0] == "running" and progress()[1] > 0, timeout_s=60, what="the run")
        (pool_process,) = descendants(system.processes["worker-batch"].pid)  # concurrency 1
        os.kill(pool_process, signal.SIGKILL)

        # acks_late: the task comes back to the worker's new pool process, which finds the row running
        # and its run lock free, and marks it failed.
        wait_until(lambda: progress()[0] == "failed", timeout_s=30, what="the lost run to be marked failed")
        assert "worker running it was lost" in scenario.error

        status, again = call(system.api_port, f"/api/scenarios/{scenario.pk}/rerun", token)
        assert status == 202 and again["request"] == scenario.request
        rerun = site.scenarios.get(pk=again["id"])
        wait_until(lambda: site.scenarios.filter(pk=rerun.pk, status="running").exists(), timeout_s=30)
        status, cancelled = call(system.api_port, f"/api/scenarios/{rerun.pk}/cancel", token)
        assert status == 200 and cancelled["cancel_requested"]
        wait_until(lambda: site.scenarios.filter(pk=rerun.pk, status="cancelled").exists(), timeout_s=30)
