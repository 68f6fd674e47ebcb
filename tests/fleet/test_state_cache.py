"""The engine state kept between ticks: used only while the site row is the version this worker wrote."""

import json

import pytest
from django.db.models.expressions import RawSQL
from prometheus_client import REGISTRY

from fleet import hooks, seeding, state_cache, ticking
from fleet.models import Site

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site():
    state_cache.forget()
    yield seeding.seed_site(name="Cache pit", trucks=5, crushers=1, stockpiles=1, loaders=2).site
    state_cache.forget()


def loads(source: str) -> float:
    return REGISTRY.get_sample_value("smartmine_tick_state_loads_total", {"source": source}) or 0.0


def stored_state(site_id: int) -> dict:
    return Site.objects.values_list("sim_state", flat=True).get(pk=site_id)


def test_the_next_tick_continues_from_memory_and_memory_equals_the_row(site):
    ticking.tick_site(site.pk, dt_s=30)
    memory_before, database_before = loads("memory"), loads("database")
    outcome = ticking.tick_site(site.pk, dt_s=30)
    assert outcome.applied
    assert (loads("memory"), loads("database")) == (memory_before + 1, database_before)
    version = Site.objects.annotate(v=RawSQL("xmin::text", ())).values_list("v", flat=True).get(pk=site.pk)
    kept = state_cache.take("default", site.pk, version)
    assert kept is not None
    assert json.loads(kept.state.to_json()) == stored_state(site.pk)


def test_any_other_write_of_the_site_row_makes_the_tick_read_the_row(site):
    ticking.tick_site(site.pk, dt_s=30)
    Site.objects.filter(pk=site.pk).update(paused=False)  # another writer: a new row version
    database_before = loads("database")
    assert ticking.tick_site(site.pk, dt_s=30).applied
    assert loads("database") == database_before + 1


def test_a_tick_that_rolls_back_leaves_nothing_in_memory(site, monkeypatch):
    ticking.tick_site(site.pk, dt_s=30)
    tick_before = Site.objects.get(pk=site.pk).tick

    def failing_hook(*_):
        raise RuntimeError("hook failed")

    monkeypatch.setattr(hooks, "_after_steps", [failing_hook])
    with pytest.raises(RuntimeError):
        ticking.tick_site(site.pk, dt_s=30)
    monkeypatch.undo()
    database_before = loads("database")
    outcome = ticking.tick_site(site.pk, dt_s=30)
    assert outcome.applied and outcome.tick == tick_before + 1  # the failed tick wrote nothing
    assert loads("database") == database_before + 1  # and its half-stepped state was not reused


def test_states_kept_at_start_serve_the_first_tick_from_memory(site):
    ticking.tick_site(site.pk, dt_s=30)
    state_cache.forget()  # a pool process that has just started
    Site.objects.create(name="Paused pit", paused=True)
    assert ticking.keep_ticking_states() == 1  # the paused site is not ticked, so not kept
    memory_before, database_before = loads("memory"), loads("database")
    assert ticking.tick_site(site.pk, dt_s=30).applied
    assert (loads("memory"), loads("database")) == (memory_before + 1, database_before)


def test_a_state_kept_at_start_is_not_used_once_the_row_has_moved_on(site):
    ticking.tick_site(site.pk, dt_s=30)
    state_cache.forget()
    ticking.keep_ticking_states()
    Site.objects.filter(pk=site.pk).update(paused=False)  # another worker's tick, an operator: a new version
    database_before = loads("database")
    assert ticking.tick_site(site.pk, dt_s=30).applied
    assert loads("database") == database_before + 1


def test_each_pool_process_of_the_tick_worker_keeps_the_states_when_it_starts(site, tmp_path):
    """The real tick worker (runsystem's command line, two pool processes) on the test database."""
    import time

    from tests.processes import private_redis, running_layout

    ticking.tick_site(site.pk, dt_s=30)
    with (
        private_redis(tmp_path) as redis_url,
        running_layout(redis_url=redis_url, workdir=tmp_path, names=("worker-ticks",)),
    ):
        log = tmp_path / "worker-ticks.log"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            kept = [line for line in log.read_text().splitlines() if "tick states kept at start" in line]
            if len(kept) == 2:
                break
            time.sleep(0.5)
    assert len(kept) == 2 and all("sites=1" in line for line in kept), log.read_text()[-2000:]
