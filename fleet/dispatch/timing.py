"""Time to serve: how soon a loader or destination could take one more truck, and how long it keeps it.

What SPTF and the optimiser's real-time assignment rank by; the LP plans loader time with the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from fleet.dispatch.interface import UNREACHABLE_S, DestinationSnapshot, DispatchSnapshot, LoaderSnapshot


def loader_service_s(loader: LoaderSnapshot, payload_t: float) -> float:
    """Seconds under the loader: spot, then whole bucket passes (a 227 t truck takes 4 passes of 60 t)."""
    passes = max(1, math.ceil(payload_t / loader.bucket_t - 1e-9)) if loader.bucket_t > 0 else 1
    pass_s = loader.bucket_t / loader.dig_rate_tph * 3600.0 if loader.dig_rate_tph > 0 else UNREACHABLE_S
    return loader.spot_s + passes * pass_s


def loader_ready_in_s(loader: LoaderSnapshot, payload_t: float) -> float:
    """Seconds until the loader could start on one more truck: the trucks at the face, then those on their way
    (each counted as a truck like this one, since their arrival times are not known)."""
    on_the_way = max(loader.assigned_trucks - loader.queue_length, 0)
    return loader.free_in_s + on_the_way * loader_service_s(loader, payload_t)


def destination_ready_in_s(dest: DestinationSnapshot, payload_t: float) -> float:
    """Seconds until a destination could take one more load: the tip queue, and for a rate-limited crusher the
    time to crush what the trucks already assigned bring beyond the room in its bin."""
    if not dest.in_service:
        return UNREACHABLE_S
    tip_wait_s = dest.queue_length * dest.tip_s / max(dest.tip_points, 1)
    if dest.capacity_tph <= 0:
        return tip_wait_s
    backlog_t = dest.assigned_trucks * payload_t + payload_t - dest.room_t
    return max(tip_wait_s, backlog_t / dest.capacity_tph * 3600.0)


def _usable_loaders(snapshot: DispatchSnapshot) -> list[LoaderSnapshot]:
    materials = {d.material for d in snapshot.destinations}
    return [
        loader
        for loader in snapshot.loaders.values()
        if loader.available and loader.remaining_t > 0 and loader.material in materials
    ]


def _destination_by_time(
    snapshot: DispatchSnapshot,
    material: str,
    from_node: str,
    payload_t: float,
    after_s: float = 0.0,
    bias_s: Mapping[tuple[str, int], float] | None = None,
) -> DestinationSnapshot | None:
    """The destination for this material where a load leaving from_node in after_s seconds is tipped
    soonest; one under backpressure (not accepting, out of service) only when no other takes it."""
    best: tuple[tuple, DestinationSnapshot] | None = None
    for dest in snapshot.destinations:
        if dest.material != material:
            continue
        arrive_s = after_s + snapshot.haul_s(from_node, dest.node)
        ready_s = destination_ready_in_s(dest, payload_t)
        done_s = max(arrive_s, ready_s) + dest.tip_s
        if bias_s is not None:
            done_s += bias_s.get((dest.kind, dest.id), 0.0)
        key = (not (dest.accepting and dest.in_service), done_s, dest.kind, dest.id)
        if best is None or key < best[0]:
            best = (key, dest)
    return None if best is None else best[1]
