"""The tables every tick rewrites are vacuumed every minute (fleet.tasks.vacuum_busy_tables_task), so the
space of the old row versions is used again instead of the table growing with every tick."""

import pytest
from django.db import connection
from django_celery_beat.models import PeriodicTask

from fleet import seeding
from fleet.tasks import vacuum_busy_tables_task

outside_a_transaction = pytest.mark.django_db(transaction=True)  # VACUUM cannot run inside one

#: About 300 kB of engine state that compression cannot shrink much: a tick's state at 1,000 trucks.
REWRITE_STATE = (
    "UPDATE fleet_site SET sim_state = jsonb_build_object('pad', "
    "(SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 10000) g)) WHERE id = %s"
)


def site_size_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('fleet_site')")
        return cursor.fetchone()[0]


def tick_rewrites(site_id: int, count: int) -> None:
    with connection.cursor() as cursor:
        for _ in range(count):
            cursor.execute(REWRITE_STATE, [site_id])
        cursor.execute("SELECT pg_stat_force_next_flush()")  # the dead rows counted now, not within a second


@outside_a_transaction
def test_the_site_row_rewritten_every_tick_reuses_its_space_once_vacuumed():
    site = seeding.seed_site(name="Vacuumed pit", trucks=2, crushers=1, stockpiles=1, loaders=2).site
    tick_rewrites(site.pk, 20)
    grown = site_size_bytes()

    assert "public.fleet_site" in vacuum_busy_tables_task()

    tick_rewrites(site.pk, 20)
    assert site_size_bytes() < grown * 1.3  # the next 20 versions went where the first 20 were
    assert "public.fleet_site" in vacuum_busy_tables_task()


@outside_a_transaction
def test_a_table_with_few_dead_rows_is_left_alone():
    with connection.cursor() as cursor:
        cursor.execute("VACUUM fleet_site")  # whatever earlier tests left (rolled back rows are dead too)
        seeding.seed_site(name="Quiet pit", trucks=2, crushers=1, stockpiles=1, loaders=2)
        cursor.execute("SELECT pg_stat_force_next_flush()")

    assert "public.fleet_site" not in vacuum_busy_tables_task()


@pytest.mark.django_db  # the entry comes with the migrations, which a transactional test flushes
def test_beat_runs_it_every_minute():
    entry = PeriodicTask.objects.get(task="fleet.tasks.vacuum_busy_tables_task")
    assert entry.enabled and entry.interval.every == 1 and entry.interval.period == "minutes"
