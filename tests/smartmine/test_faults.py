"""Breaking things on purpose, against the real services: a worker killed mid-tick, connections cut,
Redis gone. Nothing committed may be lost, nothing half-written may remain, and the system recovers."""

import json
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import psycopg
import pytest
from django.db import connection

from fleet import seeding
from fleet.models import SimEvent, Site, TruckReading
from fleet.tasks import tick_site_task
from fleet.ticking import tick_site
from tests.processes import celery_client, current_database_url, free_port, running_system

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def site():
    return seeding.seed_site(name="Fault pit", trucks=4, crushers=1, stockpiles=1, loaders=2).site


def wait_until(condition, timeout_s: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def blocked_backends(dbname: str) -> int:
    with psycopg.connect(current_database_url().rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        return admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", [dbname]
        ).fetchone()[0]


def test_a_worker_killed_in_the_middle_of_a_tick_leaves_no_partial_tick(site):
    dbname = connection.settings_dict["NAME"]
    with running_system(web=False) as system, psycopg.connect(current_database_url()) as blocker:
        # Hold the trucks: the tick writes its readings, then waits here for the truck rows.
        blocker.execute("SELECT id FROM fleet_truck WHERE site_id = %s FOR UPDATE", [site.pk])
        tick_site_task.apply_async(args=[site.pk], queue=system.queue)
        wait_until(lambda: blocked_backends(dbname) > 0, what="the tick to block mid-transaction")
        system.kill("worker", signal.SIGKILL)
        blocker.rollback()
    wait_until(lambda: blocked_backends(dbname) == 0, what="the killed worker's transaction to end")
    site.refresh_from_db()
    assert site.tick == 0 and site.last_tick_at is None
    assert not TruckReading.objects.exists()
    assert not SimEvent.objects.exclude(kind="serviced").exists()  # only the seeded service records
    outcome = tick_site(site.pk, dt_s=60)  # the next tick continues from the last committed state
    assert outcome.applied and outcome.tick == 1
    assert TruckReading.objects.count() == 4


def test_the_web_process_reconnects_after_its_database_connections_are_cut(site):
    dbname = connection.settings_dict["NAME"]
    with running_system(worker=False) as system:
        assert fetch(system.api_port, "/api/trucks")[0] == 200
        with psycopg.connect(
            current_database_url().rsplit("/", 1)[0] + "/postgres", autocommit=True
        ) as admin:
            admin.execute(  # the pool's idle connections are cut, as by a server restart
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s "
                "AND backend_type = 'client backend' AND pid <> %s",
                [dbname, connection.connection.info.backend_pid],
            )
        status, body = fetch(system.api_port, "/api/trucks")
        assert status == 200 and b"HT-01" in body  # reconnected without a restart


def test_a_request_that_gets_no_pooled_connection_in_time_is_a_503_and_the_pool_recovers(site):
    """One pooled connection, held by a request blocked on a lock: the next request waits
    DATABASE_POOL_TIMEOUT, then gets a 503 that says to retry, instead of hanging or a 500."""
    dbname = connection.settings_dict["NAME"]
    with (
        running_system(worker=False, DATABASE_POOL_SIZE="1", DATABASE_POOL_TIMEOUT="0.5") as system,
        psycopg.connect(current_database_url()) as blocker,
    ):
        assert fetch(system.api_port, "/api/trucks")[0] == 200
        blocker.execute("LOCK TABLE fleet_truck IN ACCESS EXCLUSIVE MODE")
        held: list[tuple[int, bytes]] = []
        holder = threading.Thread(target=lambda: held.append(fetch(system.api_port, "/api/trucks")))
        holder.start()
        wait_until(lambda: blocked_backends(dbname) > 0, what="the first request to hold the connection")

        status, body, headers = fetch_with_headers(system.api_port, "/api/trucks")
        assert status == 503
        assert json.loads(body)["error"]["code"] == "database_unavailable"
        assert headers["Retry-After"] == "5"

        blocker.rollback()
        holder.join(timeout=15)
        assert held and held[0][0] == 200
        assert fetch(system.api_port, "/api/trucks")[0] == 200


def test_health_checks_hand_their_pooled_connections_back(site):
    """The checks run in threads of their own: a connection one of them kept would be lost to the pool."""
    with running_system(worker=False, DATABASE_POOL_SIZE="1", DATABASE_POOL_TIMEOUT="0.5") as system:
        for _ in range(3):
            _, body = fetch(system.api_port, "/api/health")
            assert json.loads(body)["components"]["simulation"]["status"] == "ok"
        assert fetch(system.api_port, "/api/trucks")[0] == 200


def test_a_tick_that_loses_its_database_is_retried(site, monkeypatch):
    from django.db import OperationalError

    from fleet import ticking

    real_tick, calls = ticking.tick_site, []

    def flaky_tick(site_id, **kwargs):
        calls.append(site_id)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_tick(site_id, **kwargs)

    monkeypatch.setattr(ticking, "tick_site", flaky_tick)
    tick_site_task.apply(args=[site.pk])  # eager: retries run inline
    assert len(calls) == 2
    site.refresh_from_db()
    assert site.tick == 1


def fetch(port: int, path: str) -> tuple[int, bytes]:
    status, body, _ = fetch_with_headers(port, path)
    return status, body


def fetch_with_headers(port: int, path: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server for a private Redis")
def test_with_redis_down_the_api_serves_health_names_redis_and_ticks_resume_after(site, tmp_path):
    """The issue says 30 s; the behaviour does not depend on the length of the outage, so it is short here."""
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(tmp_path)]  # fmt: skip
    redis_url = f"redis://127.0.0.1:{port}/0"
    private_redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        with running_system(REDIS_URL=redis_url) as system:
            assert fetch(system.api_port, "/api/trucks")[0] == 200
            private_redis.terminate()
            private_redis.wait(timeout=10)
            status, body = fetch(system.api_port, "/api/trucks")
            assert status == 200 and b"HT-01" in body  # served from PostgreSQL
            status, body = fetch(system.api_port, "/api/health")
            assert status == 503 and b'"redis"' in body
            private_redis = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            wait_until(lambda: fetch(system.api_port, "/api/health")[1].find(b'"redis":{"status":"ok"') >= 0,
                       what="health to see Redis again")  # fmt: skip
            # Ticks resume: the worker reconnects to the restarted broker and applies the next tick.
            celery_client(redis_url).send_task(
                "fleet.tasks.tick_site_task", args=[site.pk], queue=system.queue
            )
            wait_until(
                lambda: Site.objects.get(pk=site.pk).tick == 1,
                timeout_s=60,
                what="a tick after Redis came back",
            )
    finally:
        private_redis.terminate()
        private_redis.wait(timeout=10)
