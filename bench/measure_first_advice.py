"""Measure: which recommendations a freshly seeded default site raises in its first 8 simulated minutes.

Seeds the default site (settings.MAX_TRUCKS / MAX_CRUSHERS / MAX_STOCKPILES) under a fresh name, ticks it
headless (fleet.ticking.tick_site, dt_s=5) 96 times, refreshes predictions every 12 ticks as the beat would
(analytics.scoring.predictions.refresh_site), and prints every `ai_recommendation` item published with the
tick it came at; the site is deleted at the end. Needs the project's database (DATABASE_URL).

Usage: `PYTHONPATH=. python bench/measure_first_advice.py [seed ...]` (default seed 7).
"""

from __future__ import annotations

import collections
import os
import sys
import time

import django

TICKS, DT_S, REFRESH_EVERY = 96, 5.0, 12


def measure(seed: int) -> None:
    from django.conf import settings

    from analytics.recommendations.models import Recommendation
    from analytics.scoring.predictions import refresh_site
    from fleet import seeding
    from fleet.models import Site
    from fleet.ticking import tick_site
    from smartmine.platform import live

    sent: list[tuple[int, dict]] = []
    tick = 0
    publish = live.publish_on_commit

    def spy(site_id: int, updates: dict, *args, **kwargs) -> None:
        sent.extend((tick, item) for item in updates.get("ai_recommendation", []))
        return publish(site_id, updates, *args, **kwargs)

    live.publish_on_commit = spy
    try:
        site = seeding.seed_site(
            name=f"Measure advice {seed} {time.time():.0f}", trucks=settings.MAX_TRUCKS,
            crushers=settings.MAX_CRUSHERS, stockpiles=settings.MAX_STOCKPILES, seed=seed,
        ).site  # fmt: skip
        started = time.perf_counter()
        for tick in range(1, TICKS + 1):
            tick_site(site.pk, dt_s=DT_S)
            if tick % REFRESH_EVERY == 0:
                refresh_site(site.pk)
        wall_s = time.perf_counter() - started
        counts = collections.Counter(Recommendation.objects.filter(site=site).values_list("kind", flat=True))
    finally:
        live.publish_on_commit = publish
    print(f"seed {seed}: {TICKS} ticks of {DT_S:g} s in {wall_s:.1f} s wall")
    first: dict[str, int] = {}
    for at, item in sent:
        first.setdefault(item["kind"], at)
        when = f"tick {at:3d} (sim {at * DT_S / 60:4.1f} min)"
        print(f"  {when} {item['status']:9s} {item['kind']:11s} {item['title']}")
    print(f"  by kind: {dict(counts)}; first frame per kind at tick: {first}")
    Site.objects.filter(pk=site.pk).delete()


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmine.settings")
    django.setup()
    for value in sys.argv[1:] or ["7"]:
        measure(int(value))
