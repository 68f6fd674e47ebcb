"""The live read model: each site's current state per list endpoint, rendered once per tick, served by lookup.

After each tick commits, the tick stores every registered resource of its site (trucks, loaders, crushers,
stockpiles, zones) in Redis as the JSON array the list endpoint returns, tagged with the site's version
(tick number and tick time, so a database recreated under an old Redis never matches) and the site's write
generation. An unfiltered list request then costs one small query (the sites and their versions), one MGET
and a concatenation, instead of building every row again. Only sites someone lists are stored: a list
request that misses marks its sites wanted for WANTED_S, and the tick of a site nobody wants renders nothing.

Never an old answer: a stored list is served only while its version equals the site's in the database and
its generation equals the site's current one. Any writer of equipment state outside the tick (telemetry,
operators, the CSV import) takes the site lock first (fleet.locks), and that lock bumps the generation when
its transaction commits; admin edits bump it through post_save. A missing key (Redis flushed or restarted, a
site not ticked yet) or any Redis error makes the endpoint build the answer from the database as before.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.http import parse_etags

logger = logging.getLogger(__name__)

#: resource -> rows(site_id) building one site's items in the list endpoint's order and shape.
_RESOURCES: dict[str, Callable[[int], list[dict[str, Any]]]] = {}
#: site_ids (None: every site) -> [(site id, version)] in the list endpoints' site order (ascending id); the
#: version changes with every tick (fleet: the tick number and the tick's time).
SiteVersions = Callable[[Iterable[int] | None], list[tuple[int, str]]]
_SITE_VERSIONS: list[SiteVersions] = []
_client: redis.Redis | None = None
#: How long one list request keeps a site's read model stored by its ticks (then one request misses).
WANTED_S = 600


def register(resource: str, rows: Callable[[int], list[dict[str, Any]]]) -> None:
    """Declare how one site's items of a list endpoint are built (the app owning the endpoint, in ready())."""
    if _RESOURCES.get(resource, rows) is not rows:
        raise ValueError(f"read model {resource!r} is already built by {_RESOURCES[resource].__qualname__}")
    _RESOURCES[resource] = rows


def register_site_versions(site_versions: SiteVersions) -> None:
    """Declare how the current version of each site is read (fleet, which owns sites)."""
    _SITE_VERSIONS[:] = [site_versions]


def resources() -> list[str]:
    return list(_RESOURCES)


def _redis() -> redis.Redis:
    global _client
    if _client is None:  # one pool per process; requests run in threads, redis-py's pool is thread-safe
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    return _client


def redis_client() -> redis.Redis:
    """This process's client of the read model's Redis (short timeouts: a reader falls back, never waits)."""
    return _redis()


def _key(resource: str, site_id: int) -> str:
    return f"{settings.REDIS_PREFIX}readmodel.{resource}.s{site_id}"


def _wanted_key(site_id: int) -> str:
    return f"{settings.REDIS_PREFIX}readmodel.wanted.s{site_id}"


def mark_wanted(site_ids: Iterable[int]) -> None:
    """Ask the ticks of these sites to store their lists: someone listed them (read model missing or stale).

    A site nobody lists costs its tick nothing; the flag lapses after WANTED_S without a miss, and the
    first list request after that answers from the database and sets it again.
    """
    ids = sorted(set(site_ids))
    if not ids:
        return
    try:
        pipe = _redis().pipeline(transaction=False)
        for site_id in ids:
            pipe.set(_wanted_key(site_id), b"1", ex=WANTED_S)
        pipe.execute()
    except redis.RedisError:
        logger.warning("read model not requested for sites %s: Redis did not answer", ids)


def _generation_key(site_id: int) -> str:
    return f"{settings.REDIS_PREFIX}readmodel.generation.s{site_id}"


def render(rows: list[dict[str, Any]]) -> bytes:
    """Rows as the API's renderer writes them (the same bytes the list endpoint's results hold)."""
    from drf_orjson_renderer.renderers import ORJSONRenderer

    return ORJSONRenderer().render(rows)


def refresh(site_id: int) -> None:
    """Store every registered resource of one site at its current version; call it after a tick commits.

    The version and the generation are read before the rows: a tick or a write that commits meanwhile
    changes one of them, and the lists stored here are then refused by readers (never served as newer
    than they are); the next tick stores them again.
    """
    if not _SITE_VERSIONS:
        return
    client = _redis()
    wanted, generation = client.mget([_wanted_key(site_id), _generation_key(site_id)])
    if wanted is None:
        return  # nobody has listed this site lately: its tick renders nothing
    versions = _SITE_VERSIONS[0]([site_id])
    if not versions:
        return  # the site was deleted
    version = versions[0][1].encode()
    generation = int(generation or 0)
    pipe = client.pipeline(transaction=False)
    for resource, rows_of in _RESOURCES.items():
        rows = rows_of(site_id)
        pipe.set(_key(resource, site_id), b"%s %d %d\n" % (version, generation, len(rows)) + render(rows))
    pipe.execute()


def refresh_safely(site_id: int) -> None:
    """After the tick's commit: a read model that cannot be stored is logged, never raised (readers fall
    back to the database)."""
    try:
        refresh(site_id)
    except Exception:
        logger.exception("read model not stored", extra={"site": site_id})


def invalidate(site_ids: Iterable[int]) -> None:
    """Make the stored lists of these sites unusable until their next tick (a write outside the tick)."""
    ids = sorted(set(site_ids))
    if not ids:
        return
    try:
        pipe = _redis().pipeline(transaction=False)
        for site_id in ids:
            pipe.incr(_generation_key(site_id))
        pipe.execute()
    except redis.RedisError:
        # Redis unreachable: so are the stored lists, and readers use the database. The one blind spot is
        # Redis coming back with the lists intact: they may miss this write until the site's next tick.
        logger.warning("read model not invalidated for sites %s: Redis did not answer", ids)


def invalidate_on_commit(site_ids: Iterable[int]) -> None:
    """Invalidate after the current transaction commits (the write is then visible to a rebuild)."""
    from django.db import transaction

    ids = list(site_ids)
    transaction.on_commit(lambda: invalidate(ids))


def stored_lists(resource: str, site_versions: list[tuple[int, str]]) -> tuple[list[bytes], int, str] | None:
    """The stored arrays of these sites, their total count and an ETag; None if any is missing or stale."""
    if resource not in _RESOURCES:
        return None
    keys = [_key(resource, site_id) for site_id, _ in site_versions]
    keys += [_generation_key(site_id) for site_id, _ in site_versions]
    try:
        values = _redis().mget(keys) if keys else []
    except redis.RedisError:
        return None
    arrays, count, versions = [], 0, [resource.encode()]
    values, generations = values[: len(site_versions)], values[len(site_versions) :]
    for (site_id, version), value, generation in zip(site_versions, values, generations, strict=True):
        if value is None:
            return None
        header, _, array = value.partition(b"\n")
        stored_version, stored_generation, rows = header.split()
        if stored_version != version.encode() or int(stored_generation) != int(generation or 0):
            return None
        arrays.append(array)
        count += int(rows)
        versions.append(b"%d %s %s" % (site_id, stored_version, stored_generation))
    return arrays, count, _etag(versions)


def _etag(versions: list[bytes]) -> str:
    return '"' + hashlib.blake2b(b" ".join(versions), digest_size=12).hexdigest() + '"'


def _current_etag(resource: str, site_versions: list[tuple[int, str]]) -> str | None:
    """The ETag the stored lists have when they are current (one small MGET of the generations)."""
    try:
        generations = _redis().mget([_generation_key(site_id) for site_id, _ in site_versions])
    except redis.RedisError:
        return None
    versions = [resource.encode()]
    for (site_id, version), generation in zip(site_versions, generations, strict=True):
        versions.append(b"%d %s %d" % (site_id, version.encode(), int(generation or 0)))
    return _etag(versions)


def list_response(request: HttpRequest, resource: str, *, page_size: int) -> HttpResponse | None:
    """The unfiltered first page of a list endpoint from the read model, None when the database must answer.

    Served: no query parameters, or `site` given as an id. Anything else (other filters, pagination
    parameters, a site slug), a count beyond one default page (whose `next` link depends on the request),
    or a missing or stale list falls back to the database path, which gives the same bytes.
    """
    params = request.GET
    site_ids = None
    if params:
        site = params.get("site", "")
        if len(params) != 1 or len(params.getlist("site")) != 1 or not (site.isascii() and site.isdigit()):
            return None
        site_ids = [int(site)]
    if not _SITE_VERSIONS:
        return None
    site_versions = _SITE_VERSIONS[0](site_ids)
    stored = stored_lists(resource, site_versions)
    if stored is None:
        mark_wanted(site_id for site_id, _ in site_versions)  # the next tick of each stores its lists
        return None
    arrays, count, etag = stored
    if count > page_size:
        return None
    return conditional_response(request, etag, lambda: _page(arrays, count))


def conditional_response(request: HttpRequest, etag: str, body: Callable[[], bytes]) -> HttpResponse:
    """A JSON answer kept by the tick: 304 when If-None-Match holds its ETag, else `body()`; cacheable
    privately for one tick interval (the most it can stay current)."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and (etag in parse_etags(if_none_match) or if_none_match.strip() == "*"):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body(), content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = f"private, max-age={max(1, round(settings.SIMULATION_INTERVAL_S))}"
    return response


def _page(arrays: list[bytes], count: int) -> bytes:
    """The paginated body of the whole list (one page: no next, no previous)."""
    items = b",".join(array[1:-1] for array in arrays if len(array) > 2)
    return b'{"count":%d,"next":null,"previous":null,"results":[%s]}' % (count, items)


def unfiltered_page(
    resource: str, *, page_size: int, last: tuple[str, bytes] | None = None
) -> tuple[str, bytes] | None:
    """(ETag, body) of the unfiltered list as list_response answers it, None when it would not answer
    (a missing or stale list, more rows than a page). Blocking: the site versions, then one MGET.

    `last` is a page this returned before: while the sites' versions and generations still give its ETag,
    it is returned again without fetching the lists (the same tick and no write since: the same bytes)."""
    if not _SITE_VERSIONS:
        return None
    site_versions = _SITE_VERSIONS[0](None)
    if last is not None and site_versions and _current_etag(resource, site_versions) == last[0]:
        return last
    stored = stored_lists(resource, site_versions)
    if stored is None or stored[1] > page_size:
        return None
    arrays, count, etag = stored
    return etag, _page(arrays, count)


def invalidate_saved(sender: type, instance: Any, **kwargs: Any) -> None:
    """post_save/post_delete receiver for listed models edited one by one (admin): their site's lists."""
    site_id = getattr(instance, "site_id", None)
    if site_id is not None:
        invalidate_on_commit([site_id])


def invalidate_on_save(*models: type) -> None:
    """Connect `invalidate_saved` to these models (the app owning them, in ready())."""
    from django.db.models.signals import post_delete, post_save

    for model in models:
        post_save.connect(invalidate_saved, sender=model, dispatch_uid=f"readmodel.{model._meta.label}")
        post_delete.connect(invalidate_saved, sender=model, dispatch_uid=f"readmodel-del.{model._meta.label}")
