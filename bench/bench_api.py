"""Benchmark: the REST API under concurrent load (wrk against `serveweb`: WEB_CONCURRENCY daphne processes on
one port, as `make run` serves) and the same queries through raw psycopg, plus telemetry ingest throughput.

Runs in its own database. Goals (the API issue): /api/trucks with 1,000 trucks p99 < 50 ms with 50 concurrent
clients; one truck's last hour of raw readings from 50,000,000 < 20 ms; 24 h at 1-minute buckets < 150 ms;
POST /api/telemetry >= 50,000 readings/s with batches of 1,000. The quick run uses 2,000,000 readings.

The read-model section (issue 19) runs `serveweb` (WEB_CONCURRENCY daphne processes on one port) and, under
the same serveweb and process count, a bare ASGI app answering the same bytes (bench/bare_asgi.py): the
unfiltered /api/trucks at 1,000 trucks from the tick's read model, 50 clients >= 0.3x the bare app, p99
< 100 ms, one client < 10 ms; /api/version under 50 connections >= 0.3x the bare app; the current shift's
KPIs as the tick kept them, one client < 50 ms and 50 clients p99 < 250 ms, beside the bare app's figures.
Usage: `python -m bench.bench_api [--quick] [--read-model-only]`, or import and call run().
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

from bench.common import ROOT, BenchDatabase, connection_url, setup_django, stats
from smartmine.config import VAR_DIR
from smartmine.devservices import free_port

TRUCKS = 1000
READING_SPACING_S = 5
CONCURRENCY = 50


def _fill_history(truck_ids: list[int], readings: int, end: dt.datetime) -> float:
    """Readings generated inside PostgreSQL (no client round trips), ending at `end`; returns seconds."""
    from django.db import connection

    from fleet import histories, partitions
    from fleet.models import TruckReading

    per_truck = readings // len(truck_ids)
    start = end - dt.timedelta(seconds=per_truck * READING_SPACING_S)
    partitions.ensure_reading_partitions("truck", partitions.days_between(start.date(), end.date()))
    sensors = ", ".join(histories.history("truck").sensors)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TruckReading._meta.db_table} (equipment_id, ts, status, {sensors}) "
            "SELECT t.id, %s::timestamptz + make_interval(secs => n * %s), 'hauling', "
            "-22.3, 118.6, 90, 30 + (n %% 20), 200 + (n %% 30), 3000 - (n %% 2000), 90 + (n %% 7), 700, "
            "1 + (n %% 5) * 0.1, 30000 + n / 720.0, 90 "
            "FROM unnest(%s::bigint[]) AS t(id) CROSS JOIN generate_series(0, %s - 1) AS n",
            [start, READING_SPACING_S, truck_ids, per_truck],
        )
        cursor.execute(f"ANALYZE {TruckReading._meta.db_table}")
    return time.perf_counter() - started


def _wrk(url: str, seconds: int, headers: dict[str, str]) -> dict[str, float]:
    """p50/p99 latency (ms) and requests/s from wrk with CONCURRENCY connections. A request may take 30 s:
    wrk's default 2 s would drop slow answers, such as KPIs, from the figures instead of counting them."""
    command = ["wrk", "-t", "2", "-c", str(CONCURRENCY), "-d", f"{seconds}s", "--timeout", "30s", "--latency"]
    command.append(url)
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    percent = {m[0]: _ms(m[1]) for m in re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", output, re.M)}
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "p50": percent.get("50", float("nan")),
        "p99": percent.get("99", float("nan")),
        "rps": float(rate.group(1)) if rate else float("nan"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def _wait_until_idle(base: str, headers: dict[str, str], timeout_s: float = 300) -> None:
    """wrk stops sending before daphne and PostgreSQL have worked off its backlog: wait until no query of
    ours is running and a small request that needs a pooled connection is fast again, so the next
    measurement does not queue behind it. Raises if the pool never frees up (connections leaked)."""
    from django.db import connection

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state <> 'idle' AND pid <> pg_backend_pid()"
            )
            busy = cursor.fetchone()[0]
        started = time.perf_counter()
        request = urllib.request.Request(f"{base}/api/trucks?limit=1", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                answered = response.status == 200
        except urllib.error.HTTPError:  # 503 while the pool is still busy
            answered = False
        if busy == 0 and answered and time.perf_counter() - started < 0.1:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the API did not become idle within {timeout_s} s after the load")


def _ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _time_sql(sql: str, params: list, repeats: int) -> list[float]:
    import psycopg

    with psycopg.connect(connection_url()) as raw:
        raw.execute(sql, params).fetchall()  # warm
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            raw.execute(sql, params).fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return times


def _time_get(url: str, headers: dict[str, str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats + 1):
        request = urllib.request.Request(url, headers=headers)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"GET {url} answered {error.code}: {error.read()[:300]!r}") from None
        times.append((time.perf_counter() - started) * 1000)
    return times[1:]


def _reading(truck_id: int, at: dt.datetime) -> dict:
    values = {
        "lat": -22.3,
        "lon": 118.6,
        "heading_deg": 90,
        "speed_kmh": 30,
        "payload_t": 200,
        "fuel_l": 2000,
    }
    values |= {"engine_temp_c": 90, "tyre_pressure_kpa": 700, "vibration_mm_s": 1.2, "engine_hours": 30000}
    return {
        "kind": "truck",
        "equipment_id": truck_id,
        "ts": at.isoformat(),
        "status": "hauling",
        "health": 90,
        **values,
    }


def _telemetry_rate(url: str, headers: dict[str, str], truck_ids: list[int], batches: int) -> list[float]:
    """Readings/s of POST /api/telemetry, 1,000 readings a batch (fresh timestamps each batch)."""
    rates = []
    base = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    for batch in range(batches):
        at = base + dt.timedelta(seconds=batch)
        body = json.dumps({"readings": [_reading(truck_id, at) for truck_id in truck_ids[:1000]]}).encode()
        request = urllib.request.Request(
            url, data=body, headers={**headers, "Content-Type": "application/json"}, method="POST"
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
        rates.append(1000 / (time.perf_counter() - started))
    return rates


def _row(
    metric: str, figures: dict | float, unit: str, goal: str | None = None, met: bool | None = None
) -> dict:
    if not isinstance(figures, dict):
        figures = {"median": figures, "min": None, "max": None}
    return {"metric": metric, **figures, "unit": unit, "goal": goal, "met": met}


#: The case run after one tick of the site crossed a simulated minute: the shift's KPIs as the tick kept them
#: (analytics.kpis.live), served while the site's clock stays in that minute (no other tick runs here).
KEPT_KPIS = "/api/mining/kpis (shift, kept by the tick)"


def _cross_a_minute(site_id: int, end: dt.datetime) -> None:
    """One tick of the site that crosses a simulated minute, so it keeps the shift's KPIs."""
    from fleet.ticking import tick_site

    crossing_s = 61.0 - end.timestamp() % 60
    outcome = tick_site(site_id, now=end + dt.timedelta(seconds=crossing_s), dt_s=crossing_s)
    if not outcome.applied:
        raise RuntimeError(f"the tick before {KEPT_KPIS!r} was not applied: {outcome}")


def _cases(base: str, site_id: int, truck: int, end: dt.datetime) -> dict:
    """label -> (URL, the same query through raw psycopg or None, goal text, limit in ms, measured by)."""
    quote = urllib.request.quote
    hour_ago, day_ago = (end - dt.timedelta(hours=h) for h in (1, 24))
    raw_hour = "SELECT * FROM fleet_truckreading WHERE equipment_id = %s AND ts >= %s ORDER BY ts LIMIT 1000"
    raw_buckets = (
        "SELECT date_bin('1 minute', ts, '2000-01-01'), avg(speed_kmh), min(speed_kmh), max(speed_kmh) "
        "FROM fleet_truckreading WHERE equipment_id = %s AND ts >= %s GROUP BY 1"
    )
    return {
        "/api/trucks (1,000 trucks)": (f"{base}/api/trucks?limit=1000", None, "p99 < 50 ms", 50, "p99"),
        "one truck, last hour raw": (
            f"{base}/api/trucks/{truck}/readings?from={quote(hour_ago.isoformat())}&limit=1000",
            (raw_hour, [truck, hour_ago]),
            "< 20 ms",
            20,
            "single",
        ),
        "one truck, 24 h at 1-minute buckets": (
            f"{base}/api/trucks/{truck}/readings?from={quote(day_ago.isoformat())}&interval=1m",
            (raw_buckets, [truck, day_ago]),
            "< 150 ms",
            150,
            "single",
        ),
        # last: its heavy SQL leaves the longest backlog
        "/api/mining/kpis (shift, computed from the ledgers)": (
            f"{base}/api/mining/kpis?site={site_id}&window=shift",
            None,
            None,
            None,
            None,
        ),
        # after a tick that crossed a simulated minute (KEPT_AFTER_TICK): the figures it kept
        KEPT_KPIS: (
            f"{base}/api/mining/kpis?site={site_id}&window=shift",
            None,
            "p99 < 250 ms",
            250,
            "p99",
        ),
    }


def _serveweb(port: int, processes: int, env: dict, log_name: str, application: str | None = None):
    """`manage.py serveweb` on one port (the layout `make run` uses), its output in var/log/<log_name>."""
    command = [sys.executable, "manage.py", "serveweb", "--processes", str(processes), "--bind",
               f"127.0.0.1:{port}", *(["--application", application] if application else [])]  # fmt: skip
    log_path = VAR_DIR / "log" / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for_http(url: str, timeout_s: float = 240) -> None:
    """serveweb binds at once; its daphne processes answer once Django has loaded (slow on a busy machine)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                response.read()
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s")


def read_model_rows(site_id: int, auth: dict[str, str], env: dict[str, str], quick: bool) -> list[dict]:
    """/api/trucks from the read model and /api/version under serveweb, against a bare ASGI app serving the
    same bytes under the same serveweb and process count, measured in turn in the same run."""
    from django.conf import settings

    from fleet import ticking
    from fleet.models import Site

    load_s, repeats = (5, 20) if quick else (15, 50)
    processes = settings.WEB_CONCURRENCY
    from smartmine.platform import readmodel

    readmodel.mark_wanted([site_id])  # as a dashboard's first list request does
    # The tick stores the read model after its commit and, crossing a simulated minute, the shift's KPIs.
    clock = Site.objects.get(pk=site_id).sim_clock
    ticking.tick_site(site_id, dt_s=61.0 - clock.timestamp() % 60 if clock else 61.0)
    env = {**env, "INSTALLATION_ID": settings.INSTALLATION_ID}  # the bench's namespace, the read model's
    app_port, bare_port = free_port(), free_port()
    app = _serveweb(app_port, processes, env, "bench-api-serveweb.log")
    bare = None
    rows = []
    try:
        base = f"http://127.0.0.1:{app_port}"
        _wait_for_http(f"{base}/api/version")
        bodies = {}
        kpis_query = f"?site={site_id}&window=shift"
        for path, query in (("/api/trucks", ""), ("/api/version", ""), ("/api/mining/kpis", kpis_query)):
            request = urllib.request.Request(base + path + query, headers=auth)
            with urllib.request.urlopen(request, timeout=30) as answer:
                bodies[path] = answer.read().decode()
                if path != "/api/version" and not answer.headers.get("ETag"):
                    raise RuntimeError(f"{path} did not answer from what the tick keeps (no ETag)")
        bodies_file = VAR_DIR / "bench-bare-bodies.json"
        bodies_file.write_text(json.dumps(bodies))
        bare = _serveweb(
            bare_port, processes, {**env, "BARE_ASGI_BODIES": str(bodies_file)}, "bench-api-bare.log",
            application="bench.bare_asgi:application",
        )  # fmt: skip
        bare_base = f"http://127.0.0.1:{bare_port}"
        _wait_for_http(f"{bare_base}/api/version")
        trucks = f"{base}/api/trucks"
        single = stats(_time_get(trucks, auth, repeats))
        loaded = _wrk(trucks, load_s, auth)
        bare_trucks = _wrk(f"{bare_base}/api/trucks", load_s, auth)
        version = _wrk(f"{base}/api/version", load_s, {})
        bare_version = _wrk(f"{bare_base}/api/version", load_s, {})
        label = f"/api/trucks read model, {processes} processes"
        rows += [
            _row(f"{label}: one client", single, "ms", "< 10 ms", single["median"] < 10),
            _row(f"{label}: {CONCURRENCY} clients p99", loaded["p99"], "ms", "< 100 ms", loaded["p99"] < 100),
            _row(f"{label}: requests/s ({loaded['errors']} non-2xx)", loaded["rps"], "req/s"),
            _row(
                f"bare ASGI app, same bytes: requests/s ({bare_trucks['errors']} non-2xx)",
                bare_trucks["rps"],
                "req/s",
            ),
            _row(f"bare ASGI app, same bytes: {CONCURRENCY} clients p99", bare_trucks["p99"], "ms"),
            _row(
                f"{label}: / bare ASGI app",
                loaded["rps"] / bare_trucks["rps"],
                "x",
                ">= 0.3x",
                loaded["rps"] / bare_trucks["rps"] >= 0.3,
            ),
            _row(
                f"/api/version, {processes} processes: requests/s ({version['errors']} non-2xx)",
                version["rps"],
                "req/s",
            ),
            _row("bare ASGI app, /api/version bytes: requests/s", bare_version["rps"], "req/s"),
            _row(
                "/api/version / bare ASGI app",
                version["rps"] / bare_version["rps"],
                "x",
                ">= 0.3x",
                version["rps"] / bare_version["rps"] >= 0.3,
            ),
            _row(f"/api/version: {CONCURRENCY} clients p99", version["p99"], "ms"),
        ]
        kpis = f"{base}/api/mining/kpis{kpis_query}"
        single = stats(_time_get(kpis, auth, repeats))
        loaded = _wrk(kpis, load_s, auth)
        bare_kpis = _wrk(f"{bare_base}/api/mining/kpis{kpis_query}", load_s, auth)
        label = f"{KEPT_KPIS}, {processes} processes"
        rows += [
            _row(f"{label}: one client", single, "ms", "< 50 ms", single["median"] < 50),
            _row(f"{label}: {CONCURRENCY} clients p99", loaded["p99"], "ms", "< 250 ms", loaded["p99"] < 250),
            _row(f"{label}: requests/s ({loaded['errors']} non-2xx)", loaded["rps"], "req/s"),
            _row("bare ASGI app, the same KPI bytes: requests/s", bare_kpis["rps"], "req/s"),
            _row(f"bare ASGI app, the same KPI bytes: {CONCURRENCY} clients p99", bare_kpis["p99"], "ms"),
            _row(f"{label}: / bare ASGI app", loaded["rps"] / bare_kpis["rps"], "x"),
        ]
    finally:
        _stop(app)
        if bare is not None:
            _stop(bare)
    return rows


def run(quick: bool = False, read_model_only: bool = False) -> dict:
    setup_django()
    from django.conf import settings
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from analytics.kpis.rebuild import rebuild_site
    from fleet import seeding
    from fleet.choices import GATEWAYS_GROUP
    from fleet.models import Truck

    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is needed for the load test: apt-get install wrk")
    readings = 2_000_000 if quick else 50_000_000
    load_s, repeats = (5, 5) if quick else (15, 20)
    rows = []
    with BenchDatabase():
        call_command("migrate", verbosity=0)
        site = seeding.seed_site(name="API bench", trucks=TRUCKS, loaders=50, crushers=20, stockpiles=50).site
        truck_ids = list(Truck.objects.filter(site=site).order_by("pk").values_list("pk", flat=True))
        end = dt.datetime.now(dt.UTC).replace(microsecond=0)
        engineer = User.objects.create_superuser("bench", password="bench-password-1")
        auth = {"Authorization": f"Token {Token.objects.create(user=engineer).key}"}
        # the bench process's namespace: what its ticks keep (read model, the shift's KPIs) daphne finds
        env = {
            **os.environ,
            "DATABASE_URL": connection_url(),
            "INSTALLATION_ID": settings.INSTALLATION_ID,
            "LOG_FILE": "",
            "LOG_LEVEL": "WARNING",
        }
        rows += read_model_rows(site.pk, auth, env, quick)
        if read_model_only:
            return {"rows": rows}
        rows.append(
            _row(f"history generated: {readings:,} readings", _fill_history(truck_ids, readings, end), "s")
        )
        # The KPIs read the ledgers a live site keeps as it ticks (docs/kpis.md): build them for the
        # generated history as `rebuild_kpi_ledgers` does, and put the site's clock at its end.
        site.sim_clock = end
        site.save(update_fields=["sim_clock"])
        started = time.perf_counter()
        rebuild_site(site.pk)
        rows.append(_row("KPI ledgers rebuilt from that history", time.perf_counter() - started, "s"))
        gateway = User.objects.create_user("bench-gateway")
        gateway.groups.add(Group.objects.get(name=GATEWAYS_GROUP))
        port = free_port()
        # The layout `make run` serves with: WEB_CONCURRENCY daphne processes on one port (serveweb).
        web = _serveweb(port, settings.WEB_CONCURRENCY, env, "bench-api-web.log")
        try:
            _wait_for_http(f"http://127.0.0.1:{port}/api/version")
            base = f"http://127.0.0.1:{port}"
            for label, (url, raw, goal, limit, measure) in _cases(base, site.pk, truck_ids[0], end).items():
                if label == KEPT_KPIS:
                    _cross_a_minute(site.pk, end)
                single = stats(_time_get(url, auth, repeats))
                loaded = _wrk(url, load_s, auth)
                _wait_until_idle(base, auth)
                rows.append(
                    _row(
                        f"{label}: one client",
                        single,
                        "ms",
                        *_verdict(measure == "single", goal, single["median"], limit),
                    )
                )
                rows.append(_row(f"{label}: {CONCURRENCY} clients p50", loaded["p50"], "ms"))
                rows.append(
                    _row(
                        f"{label}: {CONCURRENCY} clients p99",
                        loaded["p99"],
                        "ms",
                        *_verdict(measure == "p99", goal, loaded["p99"], limit),
                    )
                )
                rows.append(_row(f"{label}: requests/s ({loaded['errors']} non-2xx)", loaded["rps"], "req/s"))
                if raw is not None:
                    raw_ms = stats(_time_sql(*raw, repeats=repeats))
                    rows.append(_row(f"{label}: raw psycopg", raw_ms, "ms"))
                    rows.append(_row(f"{label}: API / raw psycopg", single["median"] / raw_ms["median"], "x"))
            gateway_auth = {"Authorization": f"Token {Token.objects.create(user=gateway).key}"}
            rates = stats(
                _telemetry_rate(f"{base}/api/telemetry", gateway_auth, truck_ids, 3 if quick else 10)
            )
            rows.append(
                _row(
                    "POST /api/telemetry, batches of 1,000",
                    rates,
                    "readings/s",
                    ">= 50,000",
                    rates["median"] >= 50_000,
                )
            )
        finally:
            _stop(web)
    return {"rows": rows}


def _verdict(applies: bool, goal: str | None, value: float, limit: float | None) -> tuple:
    return (goal, value < limit) if applies and limit is not None else (None, None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--read-model-only", action="store_true", help="only the read-model section")
    from bench.__main__ import print_table

    arguments = parser.parse_args()
    print_table("api", run(quick=arguments.quick, read_model_only=arguments.read_model_only)["rows"])
