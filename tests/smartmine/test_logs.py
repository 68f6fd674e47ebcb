import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from smartmine.platform.logs import (
    BackgroundHandler,
    ContextFilter,
    JsonFormatter,
    KeyValueFormatter,
    asgi_request_id,
    detail_level,
    request_id_var,
    task_id_var,
)

ROOT = Path(__file__).resolve().parents[2]


def _record(message="tick done", **extra):
    record = logging.LogRecord("fleet.tasks", logging.INFO, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    record.request_id, record.task_id = request_id_var.get(), task_id_var.get()
    return record


def test_key_value_lines_quote_values_with_spaces_and_carry_extras():
    line = KeyValueFormatter().format(_record("tick done in 12 ms", site=3))
    assert 'msg="tick done in 12 ms"' in line
    assert "level=INFO" in line and "logger=fleet.tasks" in line and "site=3" in line


def test_json_lines_are_one_object_with_the_task_id():
    token = task_id_var.set("abc-123")
    try:
        line = JsonFormatter().format(_record())
    finally:
        task_id_var.reset(token)
    assert json.loads(line)["task_id"] == "abc-123"


def test_every_response_carries_a_request_id(client):
    response = client.get("/api/version", headers={"X-Request-ID": "trace-42"})
    assert response["X-Request-ID"] == "trace-42"
    generated = client.get("/api/version")["X-Request-ID"]
    assert len(generated) == 32


def test_paths_answered_before_django_give_the_id_django_would():
    """Repeated headers joined as Django's ASGIRequest joins them; an insane one replaced by a new id."""

    def scope(*values: bytes) -> dict:
        return {"headers": [(b"host", b"x"), *((b"x-request-id", value) for value in values)]}

    assert asgi_request_id(scope(b"trace-7")) == b"trace-7"
    assert asgi_request_id(scope(b"a", b"b")) == b"a,b"
    for odd in (scope(), scope(b""), scope(b"x" * 65), scope("caf\u00e9".encode("latin1"))):
        replaced = asgi_request_id(odd)
        assert len(replaced) == 32 and replaced != asgi_request_id(odd)


def _log_through_config(level: str) -> str:
    """What a fresh process configured by logging_config(level) writes for Celery's per-task lines."""
    script = (
        "import logging, logging.config, pathlib, sys\n"
        "from smartmine.platform.logs import logging_config\n"
        f"logging.config.dictConfig(logging_config(level={level!r}, log_file='', log_format='keyvalue',"
        " log_dir=pathlib.Path('.')))\n"
        "logging.getLogger('celery.worker.strategy').info('Task fleet.tasks.tick_site_task[1] received')\n"
        "logging.getLogger('celery.app.trace').info('Task fleet.tasks.tick_site_task[1] succeeded')\n"
        "logging.getLogger('celery.beat').info('Scheduler: Sending due task')\n"
        "logging.getLogger('celery.app.trace').error('Task fleet.tasks.tick_site_task[2] raised')\n"
        "logging.getLogger('fleet.tick_summary').info('tick summary')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stderr


def test_at_info_celerys_lines_per_task_are_left_out_but_failures_and_the_summary_stay():
    output = _log_through_config("INFO")
    assert "received" not in output and "succeeded" not in output and "Sending due task" not in output
    assert "level=ERROR logger=celery.app.trace" in output and 'msg="tick summary"' in output
    assert len(output.splitlines()) == 2


def test_at_debug_celerys_lines_per_task_come_back():
    output = _log_through_config("DEBUG")
    assert "received" in output and "succeeded" in output and "Sending due task" in output
    assert len(output.splitlines()) == 5


def test_routine_loggers_never_speak_below_the_configured_level():
    assert [detail_level(level) for level in ("DEBUG", "INFO", "WARNING", "ERROR")] == [
        "DEBUG", "WARNING", "WARNING", "ERROR",
    ]  # fmt: skip


def test_a_manage_py_command_does_not_announce_axes_unless_at_debug():
    def check(level: str) -> str:
        env = {**os.environ, "LOG_LEVEL": level, "LOG_FILE": ""}
        done = subprocess.run(
            [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=120, check=True,
        )  # fmt: skip
        return done.stdout + done.stderr

    assert "AXES" not in check("INFO")
    assert "AXES: BEGIN" in check("DEBUG")


class _BlockedDisk(logging.Handler):
    """A handler whose writes wait until released, like a log file on a disk busy with a checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.released.wait(10)
        self.lines.append(self.format(record))


def test_a_caller_never_waits_for_a_blocked_disk_and_every_line_is_written_after():
    disk = _BlockedDisk()
    disk.setFormatter(KeyValueFormatter())
    handler = BackgroundHandler([disk])
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.background")
    logger.addHandler(handler)
    logger.propagate = False
    token = request_id_var.set("req-7")
    try:
        started = time.monotonic()
        for n in range(100):
            logger.warning("tick %s applied", n)
        took = time.monotonic() - started
        disk.released.set()
        handler.flush()
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    assert took < 1.0  # the disk holds each write for up to 10 s
    assert len(disk.lines) == 100
    assert 'msg="tick 0 applied"' in disk.lines[0] and "request_id=req-7" in disk.lines[0]


def test_a_line_keeps_its_exception_and_the_message_as_it_was_when_logged():
    disk = _BlockedDisk()
    disk.released.set()
    disk.setFormatter(KeyValueFormatter())
    handler = BackgroundHandler([disk])
    record_args = {"trucks": [1]}
    try:
        raise ValueError("bad reading")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "for %s", (record_args,), sys.exc_info())
    handler.handle(record)
    record_args["trucks"].append(2)  # changed after the call: the line says what was logged
    handler.close()
    assert "for {'trucks': [1]}" in disk.lines[0]
    assert "ValueError: bad reading" in disk.lines[0]


def test_a_forked_child_writes_its_lines_and_so_does_its_parent(tmp_path):
    script = (
        "import logging, logging.config, os, pathlib\n"
        "from smartmine.platform.logs import logging_config\n"
        f"logging.config.dictConfig(logging_config(level='INFO', log_file={str(tmp_path / 'x.log')!r},"
        " log_format='keyvalue', log_dir=pathlib.Path('.')))\n"
        "log = logging.getLogger('fleet.tasks')\n"
        "log.info('before fork')\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    log.info('in child')\n"
        "    logging.shutdown()\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "log.info('parent after child')\n"
    )
    subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    lines = (tmp_path / "x.log").read_text().splitlines()
    assert [line.split('msg="')[1].split('"')[0] for line in lines] == [
        "before fork",
        "in child",
        "parent after child",
    ]
