"""Two installations on one Redis never cross-talk: live ticks and Celery tasks (artifacts: the ML tests).

Installation A is this test process (its INSTALLATION_ID, which the daphne and worker processes it starts for
A share); installation B is another id. Each test runs against a private redis-server, so both sit on one
Redis exactly as two deployments on one server would (pub/sub ignores the db number anyway).
"""

import asyncio
import time
from contextlib import ExitStack, suppress

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from bench.bench_ws import private_redis, stop
from bench.ws_settings import channel_layers
from fleet import schedules, seeding
from fleet.models import Site
from smartmine.config import redis_prefix
from smartmine.platform import live
from tests.processes import celery_client, running_system
from tests.smartmine.test_live_cluster import TRUCKS, next_update, open_client, start_daphne

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.slow]
OTHER = "mine-b"


def layer_of(installation_id: str, redis_url: str) -> dict:
    """CHANNEL_LAYERS of one installation on the shared Redis: the project's layer under its prefix."""
    layers = channel_layers("pubsub", redis_url)
    layers["default"]["CONFIG"]["prefix"] = redis_prefix(installation_id)
    return layers


@pytest.fixture
def site() -> Site:
    return seeding.seed_site(name="Shared Redis pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site


def test_a_tick_published_by_one_installation_reaches_only_its_own_websocket_clients(site, settings):
    with ExitStack() as stack:
        redis_url, _ = stack.enter_context(private_redis())
        ports = {}
        for installation in (settings.INSTALLATION_ID, OTHER):
            with override_settings(INSTALLATION_ID=installation):
                ports[installation], daphne = start_daphne(redis_url, "pubsub")
            stack.callback(stop, daphne)

        def publish_as(installation: str) -> None:
            with override_settings(CHANNEL_LAYERS=layer_of(installation, redis_url)):
                live.publish(site.pk, {"truck_update": TRUCKS})

        async def watch() -> tuple[dict, list[dict], dict]:
            mine, _ = await open_client(ports[settings.INSTALLATION_ID])
            theirs, _ = await open_client(ports[OTHER])
            await sync_to_async(publish_as)(settings.INSTALLATION_ID)
            received = await next_update(mine)
            overheard = []
            with suppress(TimeoutError):
                overheard.append(await next_update(theirs, timeout_s=2))
            await sync_to_async(publish_as)(OTHER)  # B's own tick still reaches B: it was listening
            own = await next_update(theirs)
            await mine.close()
            await theirs.close()
            return received, overheard, own

        received, overheard, own = asyncio.run(watch())
    assert received["data"] == TRUCKS and own["data"] == TRUCKS
    assert overheard == []


def test_a_tick_task_sent_by_one_installation_is_not_taken_by_the_other_installations_worker(site):
    with (
        private_redis() as (redis_url, _),
        running_system(web=False, REDIS_URL=redis_url, INSTALLATION_ID=OTHER) as b,
    ):
        # A's beat names a site id that exists in B's database too, on a queue name B's worker consumes.
        celery_client(redis_url).send_task(schedules.TICK_TASK, args=[site.pk], queue=b.queue)
        time.sleep(3)
        site.refresh_from_db()
        assert site.tick == 0

        celery_client(redis_url, OTHER).send_task(schedules.TICK_TASK, args=[site.pk], queue=b.queue)
        deadline = time.monotonic() + 30
        while site.tick == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            site.refresh_from_db()
    assert site.tick == 1
