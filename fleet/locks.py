"""The one lock order of every write to a site's state (docs/operations.md, "Lock order").

1. Site rows, `FOR NO KEY UPDATE`, in ascending id, before any equipment row is written.
2. Equipment rows, kind by kind, each kind's rows in ascending id.

Every writer of equipment state takes (1) first: the tick, telemetry, the CSV import's state update and the
operators' actions. So on one site they run one after another, never interleaved, and two writers can only
wait for each other on the site row, which nobody takes while holding a unit. `NO KEY UPDATE`, not
`UPDATE`: nobody here changes a site's key, so inserts that reference the site (its events, new equipment,
foreign-key checks of a unit updated twice in one transaction) take `KEY SHARE` and are never blocked.

History rows are not state: telemetry copies its readings before (1), since they stay invisible until the
commit (which comes after the state it writes under the lock), so ingest processes of one site copy side by
side. Not when one of the batch's days has no partition yet: creating it takes the whole reading table,
which a tick holding the site may be writing, so that batch takes (1) first. (The hourly beat creates
partitions a week ahead; a tick that must create its own day's while a batch of other, older days waits for
its site is the one cycle left, which PostgreSQL's deadlock check ends and both the tick and ingest retry.)

Because every writer outside the tick takes (1), `lock_sites` and `lock_sites_of` also invalidate the
sites' live read model when the writer commits (smartmine.platform.readmodel): the lists the tick stored no
longer hold that write, and the list endpoints answer from the database until the next tick.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import psycopg
from django.db import OperationalError, connection, models, transaction
from django.db.models.expressions import RawSQL

from fleet.models import Site
from smartmine.platform import readmodel

LOCK_NOT_AVAILABLE = "55P03"


def lock_sites(site_ids: Iterable[int]) -> dict[int, Site]:
    """Lock the sites, in id order, until the caller's transaction ends; returns them by id."""
    locked = Site.objects.select_for_update(no_key=True).filter(pk__in=set(site_ids)).order_by("pk")
    sites = {site.pk: site for site in locked}
    readmodel.invalidate_on_commit(sites)
    return sites


def lock_sites_of(units: Mapping[type[models.Model], Iterable[int]]) -> list[int]:
    """Lock, in id order, the sites of the given equipment (model -> ids); returns the site ids."""
    parts, params = [], []
    for model, ids in units.items():
        parts.append(f'SELECT site_id FROM "{model._meta.db_table}" WHERE id = ANY(%s)')
        params.append(list(ids))
    if not parts:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT id FROM "{Site._meta.db_table}" WHERE id IN ({" UNION ".join(parts)}) '
            "ORDER BY id FOR NO KEY UPDATE",
            params,
        )
        site_ids = [row[0] for row in cursor.fetchall()]
    readmodel.invalidate_on_commit(site_ids)
    return site_ids


def lock_units(cursor, table: str, ids: Iterable[int]) -> None:
    """Lock equipment rows in id order before an UPDATE that joins them in whatever order the plan picks."""
    cursor.execute(f'SELECT id FROM "{table}" WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE', [list(ids)])


def lock_site_waiting(site_id: int, *, wait_s: float) -> Site | None:
    """The site, locked; None when another holder keeps it for longer than `wait_s` (or it does not exist).

    The engine state (`sim_state`) is left unread: the tick reads it only when its worker does not hold it
    already (fleet.state_cache), by `row_version`, the row's xmin, annotated here.

    The wait is bounded by `lock_timeout`, set for this statement only (the savepoint undoes it on a time-out,
    and it is put back otherwise), so the rest of the caller's transaction waits as it always did.
    """
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout')")
            previous = cursor.fetchone()[0]
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)", [f"{max(1, round(wait_s * 1000))}ms"]
            )
            site = (
                Site.objects.select_for_update(no_key=True)
                .defer("sim_state")
                .annotate(row_version=RawSQL(f'"{Site._meta.db_table}".xmin::text', ()))
                .filter(pk=site_id)
                .first()
            )
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
            return site
    except OperationalError as error:
        if isinstance(error.__cause__, psycopg.Error) and error.__cause__.sqlstate == LOCK_NOT_AVAILABLE:
            return None
        raise
