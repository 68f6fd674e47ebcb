"""The send loop of synchronous publishers (smartmine.platform.live._SendLoop): one thread and one event
loop per process, reused between sends, a fresh one in a forked child, and a send that hangs times out."""

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from smartmine.platform.live import _SendLoop

ROOT = Path(__file__).resolve().parents[2]


def _send_threads() -> int:
    return sum(thread.name == "channel-layer-sends" for thread in threading.enumerate())


def test_sends_share_one_loop_and_thread_between_calls():
    sends = _SendLoop()
    before = _send_threads()

    async def loop_of_send():
        return asyncio.get_running_loop()

    loops = {id(sends.run(loop_of_send())) for _ in range(20)}
    assert len(loops) == 1
    assert _send_threads() == before + 1


def test_a_send_that_hangs_fails_after_its_timeout_and_is_cancelled():
    sends = _SendLoop()
    cancelled = threading.Event()

    async def hang():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        sends.run(hang(), timeout_s=0.2)
    assert cancelled.wait(5)

    async def answer():
        return 42

    assert sends.run(answer()) == 42  # the loop still serves the next send


def test_a_forked_child_sends_on_a_loop_of_its_own():
    script = (
        "import asyncio, os\n"
        "from smartmine.platform.live import _SendLoop\n"
        "sends = _SendLoop()\n"
        "async def pid():\n"
        "    return os.getpid()\n"
        "assert sends.run(pid()) == os.getpid()\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    os._exit(0 if sends.run(pid(), timeout_s=5) == os.getpid() else 1)\n"
        "_, status = os.waitpid(child, 0)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(status))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=60, env={**os.environ})
    assert done.returncode == 0
