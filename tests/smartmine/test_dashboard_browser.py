"""The live dashboard in a real headless Chromium against a real daphne, Redis and the test database.

Playwright's sync API drives Debian's Chromium (no browser download). Ticks are driven from the test with
fleet.ticking.tick_site, so the page sees exactly the deltas a Celery tick would broadcast. Screenshots go to
test-artifacts/ (git-ignored); docs/img/dashboard.png is written when missing or when
DASHBOARD_SCREENSHOT=1 (to refresh the one in the README).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection, connections

from analytics.alerts.services import raise_alert
from analytics.permissions import ACKNOWLEDGE_ALERT
from fleet import seeding
from fleet.choices import OPERATORS_GROUP
from fleet.models import Truck
from fleet.ticking import tick_site
from smartmine.devservices import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
README_SCREENSHOT = ROOT / "docs" / "img" / "dashboard.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
HISTORY_TICKS, TICK_S = 60, 60.0  # an hour of simulated history before the page opens: charts and KPIs
PASSWORD = "dashboard-test-password"
ASGI_APP = "smartmine.asgi:application"
TIMEOUT_MS = 15_000

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.slow]


def off_the_loop(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run an ORM call in a worker thread.

    Playwright's sync API keeps an asyncio loop on the test's thread, and Django refuses database calls from
    a thread with a running loop (SynchronousOnlyOperation); the worker's connection is closed afterwards.
    """

    def run() -> Any:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


class Daphne:
    """daphne serving HTTP and /ws/live/ on one port, on this test's database and the real Redis.

    It can be stopped and started again on the same port, to see the page reconnect on its own. Its output
    goes to test-artifacts/dashboard-daphne.log.
    """

    def __init__(self, channel_prefix: str) -> None:
        db = connection.settings_dict
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "DJANGO_SETTINGS_MODULE": "dashboard_settings",
            "DASHBOARD_CHANNEL_PREFIX": channel_prefix,
            "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT)]),
            "API_PORT": str(self.port),
            "API_ALLOW_ANONYMOUS_READ": "true",
            "LOG_FILE": "",
            "LOG_LEVEL": "WARNING",
        }
        ARTIFACTS.mkdir(exist_ok=True)
        self.log = (ARTIFACTS / "dashboard-daphne.log").open("wb")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port), ASGI_APP],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_port(self.port)

    def stop(self) -> None:
        """Terminate; kill if it lingers (a request in flight at SIGTERM can leave daphne waiting forever)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def channel_prefix(settings) -> str:
    """A channel-layer key prefix of this run's own, for the test process and its daphne alike."""
    prefix = f"dashboard-test-{os.getpid()}"
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "prefix": prefix}}}
    return prefix


@pytest.fixture
def dashboard_server(channel_prefix: str) -> Iterator[Daphne]:
    server = Daphne(channel_prefix)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.log.close()


@pytest.fixture
def mine() -> dict[str, Any]:
    """A small site with an hour of simulated history, an operator, and one open alert on a truck."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=HISTORY_TICKS * TICK_S)
    site = seeding.seed_site(
        name="Browser pit", trucks=6, crushers=2, stockpiles=2, loaders=2, start=start
    ).site
    for _ in range(HISTORY_TICKS):
        assert tick_site(site.pk, dt_s=TICK_S).applied
    # The Operators group comes from a data migration, which an earlier transactional test's flush removes.
    operators, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
    app_label, codename = ACKNOWLEDGE_ALERT.split(".")
    operators.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    operator = User.objects.create_user("operator", password=PASSWORD, is_staff=True)
    operator.groups.add(operators)
    truck = Truck.objects.filter(site=site).order_by("name").first()
    alert, _ = raise_alert(equipment=truck, kind="engine_overheat", message="Engine coolant at 108 °C")
    return {"site": site, "alert": alert, "truck": truck}


def test_the_dashboard_shows_live_ticks_acknowledges_alerts_and_charts_history(dashboard_server, mine):
    from playwright.sync_api import expect, sync_playwright

    base, site, alert = dashboard_server.url, mine["site"], mine["alert"]
    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    profile = tempfile.mkdtemp(prefix="smartmine-chromium-")  # a fresh browser profile every run
    try:
        with sync_playwright() as playwright:
            # A persistent context is how Playwright takes a fresh --user-data-dir of our own.
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(TIMEOUT_MS)
            # Sign in as an operator through the admin's own login page, in a tab of its own: the admin
            # has no favicon, and its 404 is not the dashboard's console error.
            login = context.pages[0] if context.pages else context.new_page()
            login.goto(f"{base}/admin/login/?next=/admin/")
            login.fill("#id_username", "operator")
            login.fill("#id_password", PASSWORD)
            login.click("input[type=submit]")
            login.wait_for_url(f"{base}/admin/")
            login.close()

            page = context.new_page()
            page.on(
                "console", lambda m: m.type == "error" and problems.append(f"console: {m.text} {m.location}")
            )
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
            page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
            page.goto(f"{base}/")
            expect(page.locator(".account")).to_contain_text("Signed in as operator")
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            trucks = page.locator("#map .unit.truck")
            expect(trucks).to_have_count(6)
            expect(page.locator("#fleet-body tr")).to_have_count(8)  # 6 trucks and 2 loaders
            expect(page.locator("#crushers .card")).to_have_count(2)
            expect(page.locator("#stockpiles li")).to_have_count(2)
            expect(page.locator("#kpis dd").first).not_to_be_empty()

            # A tick moves trucks on the page: positions after the delta differ from those before it.
            before = page.eval_on_selector_all(
                "#map .unit.truck", "nodes => nodes.map(n => [n.dataset.id, n.dataset.lat, n.dataset.lon])"
            )
            updates = int(page.get_attribute("#map", "data-updates"))
            assert off_the_loop(tick_site, site.pk, dt_s=TICK_S).applied
            page.wait_for_function(
                """([before, updates]) => {
                    const map = document.getElementById("map");
                    if (Number(map.dataset.updates) <= updates) return false;
                    return before.some(([id, lat, lon]) => {
                        const node = map.querySelector(`.unit.truck[data-id="${id}"]`);
                        return node && (node.dataset.lat !== lat || node.dataset.lon !== lon);
                    });
                }""",
                arg=[before, updates],
            )
            # The tick crossed a simulated minute: the KPIs come with kpi_update, not by polling.
            page.wait_for_function("Number(document.getElementById('kpis').dataset.liveUpdates || 0) >= 1")
            expect(page.locator("#kpis dd").first).not_to_be_empty()

            # A truck fed by real telemetry that went silent is shown stale, with the time it went silent.
            # (Its row as telemetry leaves it: the engine's readings here run up to a minute ahead of the wall
            # clock, newer than any real reading; tests/fleet/test_stale.py goes through the ingestion path.)
            silent = off_the_loop(lambda: Truck.objects.filter(site=site).order_by("name").last())
            last_heard = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=300)
            off_the_loop(
                lambda: Truck.objects.filter(pk=silent.pk).update(live=True, last_reading_at=last_heard)
            )
            assert off_the_loop(tick_site, site.pk, dt_s=TICK_S).applied
            row = page.locator("#fleet-body tr", has_text=silent.name)
            expect(row.locator(".badge.telemetry.stale")).to_contain_text("Stale since")
            expect(page.locator(f'#map .unit.truck.stale[data-id="{silent.pk}"]')).to_have_count(1)

            # Acknowledging the alert as an operator updates it on the page and in the database.
            item = page.locator(f'#alerts li[data-id="{alert.pk}"]')
            expect(item).to_contain_text("Engine coolant at 108 °C")
            item.get_by_role("button", name="Acknowledge").click()
            expect(item).to_contain_text("Acknowledged by operator")
            expect(page.locator("#alert-count")).to_have_text("0 unacknowledged alerts")
            alert = off_the_loop(lambda: type(alert).objects.get(pk=alert.pk))
            assert alert.acknowledged_at is not None

            # Choosing a truck shows its details and history charts drawn from the bucketed endpoint.
            page.locator("#fleet-body tr", has_text=mine["truck"].name).get_by_role("button").click()
            expect(page.locator("#details")).to_be_visible()
            expect(page.locator("#details-title")).to_contain_text(mine["truck"].name)
            charts = page.locator("#details-charts .chart")
            expect(charts).to_have_count(4)
            expect(charts.first.locator("canvas")).to_be_visible()
            assert int(charts.first.get_attribute("data-points")) >= HISTORY_TICKS // 2
            page.wait_for_timeout(1_000)  # trucks glide to their new places (a 0.9 s transition)
            page.screenshot(path=ARTIFACTS / "dashboard-desktop.png", full_page=True)
            if os.environ.get("DASHBOARD_SCREENSHOT") == "1" or not README_SCREENSHOT.exists():
                README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.evaluate("window.scrollTo(0, 0)")
                clip = {"x": 0, "y": 0, "width": 1280, "height": 1240}  # map, details with charts, panels
                page.screenshot(path=README_SCREENSHOT, full_page=True, clip=clip)

            # The API docs render from our own static files: this machine, like a mine network, reaches no
            # CDN, so Swagger UI loaded from one would leave the page blank.
            docs = context.new_page()
            outside: list[str] = []
            docs.on("request", lambda r: not r.url.startswith(base) and outside.append(r.url))
            docs.on("requestfailed", lambda r: problems.append(f"docs request failed: {r.url} {r.failure}"))
            docs.goto(f"{base}/api/docs/")
            expect(docs.locator(".swagger-ui .opblock").first).to_be_visible()
            expect(docs.locator(".swagger-ui")).to_contain_text("/api/trucks")
            assert outside == []
            docs.close()

            # A 390 px phone: everything in one column, nothing wider than the screen.
            page.set_viewport_size({"width": 390, "height": 844})
            page.wait_for_timeout(300)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            expect(page.locator("#map")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "dashboard-phone.png", full_page=True)

            # The server goes away: the page says so, retries on its own and re-snapshots when it is back,
            # showing what changed meanwhile. (Failed attempts log console errors: checked before this.)
            assert problems == []
            page.set_viewport_size({"width": 1280, "height": 900})
            dashboard_server.stop()
            expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
            assert off_the_loop(tick_site, site.pk, dt_s=TICK_S).applied
            moved = off_the_loop(lambda: {t.pk: (t.lat, t.lon) for t in Truck.objects.filter(site=site)})
            dashboard_server.start()
            expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
            shown = page.eval_on_selector_all(
                "#map .unit.truck", "nodes => nodes.map(n => [n.dataset.id, n.dataset.lat, n.dataset.lon])"
            )
            assert {int(pk): (float(lat), float(lon)) for pk, lat, lon in shown} == moved
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
