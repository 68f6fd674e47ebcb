"""The admin's equipment lists on a control-room screen: real Chromium at 1280 pixels, real daphne."""

from __future__ import annotations

import tempfile

import pytest
from django.contrib.auth.models import User

from fleet import seeding
from fleet.ticking import tick_site
from tests.processes import running_system

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
PASSWORD = "admin-width-test-password"
SCREEN_PX = 1280

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.slow]


LISTS = ("fleet/truck", "fleet/loader", "plants/crusher", "stockpiles/stockpile")


def test_each_equipment_list_fits_a_1280_pixel_screen():
    from playwright.sync_api import sync_playwright

    site = seeding.seed_site(name="Width pit with a long name", trucks=6, crushers=2, stockpiles=2).site
    for _ in range(3):
        assert tick_site(site.pk, dt_s=60).applied
    User.objects.create_superuser("wide", password=PASSWORD)
    with running_system(worker=False) as system, sync_playwright() as playwright:
        base = f"http://127.0.0.1:{system.api_port}"
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="smartmine-chromium-"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            viewport={"width": SCREEN_PX, "height": 900},
        )
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(f"{base}/admin/login/?next=/admin/")
        page.fill("#id_username", "wide")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        widths = {}
        for path in LISTS:
            page.goto(f"{base}/admin/{path}/")
            assert page.locator("#result_list tbody tr").count() > 0, path
            # The admin scrolls a wide table inside its box, so the page alone would not tell: the table's
            # own right edge must be on the screen too.
            widths[path] = page.evaluate(
                "Math.max(document.documentElement.scrollWidth,"
                " document.querySelector('#result_list').getBoundingClientRect().right)"
            )
        context.close()
    assert all(width <= SCREEN_PX for width in widths.values()), widths
