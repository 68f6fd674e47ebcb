"""fastlist.Coalesced: requests waiting together share one load, and none gets a load that began before it
asked (the fast path's freshness rests on this)."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from smartmine.platform.fastlist import Coalesced


def test_callers_arriving_during_a_load_get_the_next_one_and_share_it():
    started, release = threading.Event(), threading.Event()
    loads = []

    def load() -> int:
        loads.append(len(loads) + 1)
        if len(loads) == 1:
            started.set()
            release.wait(5)
        return loads[-1]

    async def scenario() -> tuple[int, list[int]]:
        coalesced = Coalesced(load, ThreadPoolExecutor(max_workers=1))
        first = asyncio.ensure_future(coalesced())
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        later = [asyncio.ensure_future(coalesced()) for _ in range(5)]  # while the first load runs
        release.set()
        return await first, list(await asyncio.gather(*later))

    first, later = asyncio.run(scenario())

    assert first == 1
    assert later == [2] * 5  # one load after theirs began, shared
    assert loads == [1, 2]


def test_a_failing_load_fails_its_waiters_and_the_next_call_loads_again():
    results = iter([RuntimeError("PostgreSQL went away"), 7])

    def load() -> int:
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    async def scenario() -> tuple[str, int]:
        coalesced = Coalesced(load, ThreadPoolExecutor(max_workers=1))
        try:
            await coalesced()
        except RuntimeError as error:
            failed = str(error)
        return failed, await coalesced()

    assert asyncio.run(scenario()) == ("PostgreSQL went away", 7)
