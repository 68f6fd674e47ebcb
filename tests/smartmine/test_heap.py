"""platform.heap: what a process holds at start is frozen, so full collections skip it."""

import gc

from smartmine.platform.heap import freeze_startup_heap


def seen_by_the_collector(obj) -> bool:
    return any(tracked is obj for tracked in gc.get_objects())


def test_the_objects_alive_at_start_are_frozen_and_later_ones_are_not():
    at_start = [[] for _ in range(1000)]
    try:
        frozen = freeze_startup_heap()
        later = [[] for _ in range(100)]

        assert frozen >= len(at_start)
        assert not seen_by_the_collector(at_start[0])
        assert seen_by_the_collector(later[0])
    finally:
        gc.unfreeze()
