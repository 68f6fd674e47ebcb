"""runsystem's process runner with real processes: Ctrl-C is a clean stop, a process that fails is not."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SLEEPER = f"{sys.executable} -c 'import time; print(\"up\", flush=True); time.sleep(60)'"
#: Like a Celery worker running a tick: on SIGTERM it waits for its pool process to finish the task.
WORKER_SCRIPT = """
import signal, subprocess, sys
task = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2); print('task done')"])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(task.wait()))
print("up", flush=True)
signal.pause()
"""


def start_runner(commands: dict[str, str]) -> subprocess.Popen:
    """run_processes in a process of its own group, with Ctrl-C's default action, as a terminal runs it."""
    script = (
        "import os, sys, django\n"
        "django.setup()\n"
        "from smartmine.management.commands.runsystem import run_processes\n"
        f"sys.exit(run_processes({commands!r}, env=dict(os.environ), cwd='.'))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "smartmine.settings", "LOG_FILE": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_lines(runner: subprocess.Popen, text: str, count: int) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while sum(text in line for line in lines) < count and time.monotonic() < deadline:
        lines.append(runner.stdout.readline())
    return lines


def test_ctrl_c_stops_every_process_and_exits_0():
    runner = start_runner({"web": SLEEPER, "worker": SLEEPER})
    started = wait_for_lines(runner, "| up", 2)

    os.killpg(runner.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
    rest, _ = runner.communicate(timeout=60)

    assert runner.returncode == 0, "".join(started) + rest
    assert "web stopped" in rest and "worker stopped" in rest
    assert "Traceback" not in rest


def test_ctrl_c_lets_a_worker_finish_the_task_it_is_running(tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(WORKER_SCRIPT)
    runner = start_runner({"worker": f"{sys.executable} {worker}"})
    wait_for_lines(runner, "| up", 1)

    os.killpg(runner.pid, signal.SIGINT)
    rest, _ = runner.communicate(timeout=60)

    assert runner.returncode == 0, rest
    assert "task done" in rest and "worker stopped (rc=0)" in rest  # not killed with its pool


def test_a_process_that_fails_stops_the_others_and_its_status_is_the_exit_status():
    runner = start_runner({"web": SLEEPER, "worker": f"{sys.executable} -c 'import sys; sys.exit(3)'"})

    output, _ = runner.communicate(timeout=60)

    assert runner.returncode == 3, output
    assert "web stopped" in output
