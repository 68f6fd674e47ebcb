"""One logging configuration for web, worker and beat: key=value lines (or JSON), with request and task ids.

The ids travel in context variables, so any log line written while serving a request or running a task
carries them without the caller passing anything.

Lines are written by a background thread, not by the caller: a write to a log file blocks for as long as the
disk is busy (the soak saw 22 s while PostgreSQL's checkpoint flushed the same disk), and a tick must not wait
for that. The caller only formats the message and puts the record on a queue.
"""

from __future__ import annotations

import atexit
import contextvars
import copy
import json
import logging
import logging.handlers
import os
import queue
import uuid
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
task_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_id", default=None)

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    """Adds the current request id and task id to every record, in the thread that logs it.

    Ids already on the record (set by an earlier filter or given in `extra`) are kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "task_id", None) is None:
            record.task_id = task_id_var.get()
        return True


_background_handlers: weakref.WeakSet[BackgroundHandler] = weakref.WeakSet()


class BackgroundHandler(logging.handlers.QueueHandler):
    """Hands records to a thread that writes them to the real handlers (console, rotating file).

    The queue is unbounded: a disk that stalls for seconds costs the memory of its lines, never a
    blocked caller. A forked child (a Celery pool process) gets a queue and a thread of its own, and whatever
    is queued is written before the process exits.
    """

    def __init__(self, targets: list[logging.Handler]) -> None:
        super().__init__(queue.SimpleQueue())
        self.targets = targets
        self._listener: logging.handlers.QueueListener | None = None
        self._start()
        _background_handlers.add(self)

    def _start(self) -> None:
        self._listener = logging.handlers.QueueListener(self.queue, *self.targets, respect_handler_level=True)
        self._listener.start()

    def restart_after_fork(self) -> None:
        """The parent's thread did not survive the fork, and its queue may hold the parent's lines."""
        if self._listener is None:
            return
        self.queue = queue.SimpleQueue()
        self._start()

    def flush(self) -> None:
        """Writes out everything queued so far (the thread is stopped and started again)."""
        with self.lock:
            if self._listener is not None:
                self._listener.stop()
                self._start()
            for target in self.targets:
                target.flush()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The record with its message merged (its arguments may change after the call), exc_info kept."""
        prepared = copy.copy(record)
        prepared.msg = record.getMessage()
        prepared.args = None
        return prepared

    def close(self) -> None:
        _background_handlers.discard(self)
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
        for target in self.targets:
            target.close()
        super().close()


def _restart_background_handlers_in_child() -> None:
    for handler in list(_background_handlers):
        handler.restart_after_fork()


def _stop_background_handlers() -> None:
    for handler in list(_background_handlers):
        handler.close()


os.register_at_fork(after_in_child=_restart_background_handlers_in_child)
atexit.register(_stop_background_handlers)


def background_handler(*, log_format: str = "keyvalue", log_path: str = "") -> BackgroundHandler:
    """dictConfig factory: the console, and the rotating LOG_FILE if any, written from a background thread."""
    formatter = JsonFormatter() if log_format == "json" else KeyValueFormatter()
    targets: list[logging.Handler] = [logging.StreamHandler()]
    if log_path:
        targets.append(
            logging.handlers.RotatingFileHandler(
                log_path, maxBytes=20 * 1024 * 1024, backupCount=5, encoding="utf-8"
            )
        )
    for target in targets:
        target.setFormatter(formatter)
    return BackgroundHandler(targets)


def _record_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for key in ("request_id", "task_id"):
        if getattr(record, key, None):
            fields[key] = getattr(record, key)
    for key, value in vars(record).items():  # extra={...} given by the caller
        if key not in _STANDARD_ATTRS and key not in fields and key not in {"request_id", "task_id"}:
            fields[key] = value
    if record.exc_info:
        fields["exc"] = logging.Formatter().formatException(record.exc_info)
    return fields


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(ch in text for ch in ' "=\n'):
        return json.dumps(text)
    return text


class KeyValueFormatter(logging.Formatter):
    """`ts=… level=INFO logger=fleet.tasks msg="tick done" site=1 request_id=…`: greppable and parseable."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_quote(value)}" for key, value in _record_fields(record).items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers (LOG_FORMAT=json)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_record_fields(record), default=str)


#: Loggers whose INFO lines are routine, several per tick: shown only with LOG_LEVEL=DEBUG. Their warnings
#: and errors (a failed task, a beat that cannot send) always show.
ROUTINE_LOGGERS = (
    "daphne",  # every connection and request
    "celery.worker.strategy",  # "Task … received", with the whole message
    "celery.app.trace",  # "Task … succeeded in …", with arguments and result
    "celery.beat",  # "Scheduler: Sending due task …", once per tick
)


def detail_level(level: str) -> str:
    """The level of a routine logger: everything at DEBUG, otherwise WARNING or the configured level above."""
    if level == "DEBUG":
        return level
    return max(level, "WARNING", key=logging.getLevelName)  # the name's number


def logging_config(*, level: str, log_file: str, log_format: str, log_dir: Path) -> dict[str, Any]:
    """The dictConfig for every process; LOG_FILE is rotated, and a relative path lands in var/log/."""
    log_path = ""
    if log_file:
        path = Path(log_file)
        if not path.is_absolute():
            path = log_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        log_path = str(path)
    handlers: dict[str, dict[str, Any]] = {
        "background": {
            "()": background_handler,
            "log_format": log_format,
            "log_path": log_path,
            "filters": ["context"],
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "handlers": handlers,
        "root": {"handlers": list(handlers), "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},  # SQL only when asked for explicitly
            **{name: {"level": detail_level(level)} for name in ROUTINE_LOGGERS},
        },
    }


def request_id_for(incoming: str) -> str:
    """A request's id: the client's X-Request-ID if sane (1-64 ASCII characters), else a new one."""
    return incoming if 0 < len(incoming) <= 64 and incoming.isascii() else uuid.uuid4().hex


def asgi_request_id(scope: dict) -> bytes:
    """request_id_for on a raw ASGI scope, for the paths answered before Django (repeated headers joined
    with "," as Django's ASGIRequest joins them), so every response's id follows one rule."""
    incoming = ",".join(
        value.decode("latin1") for name, value in scope.get("headers", ()) if name == b"x-request-id"
    )
    return request_id_for(incoming).encode("latin1")


class RequestIdMiddleware:
    """Gives each request an id (the client's X-Request-ID if sane) for its log lines and its response."""

    header = "X-Request-ID"

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request.headers.get(self.header, ""))
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[self.header] = request_id
        return response


def _connect_celery_signals() -> None:
    from celery.signals import task_postrun, task_prerun, worker_process_shutdown

    @worker_process_shutdown.connect(weak=False)
    def _write_out_queued_lines(**_: Any) -> None:
        # A pool process ends with os._exit: no atexit, so its last lines are written here.
        _stop_background_handlers()

    @task_prerun.connect(weak=False)
    def _set_task_id(task_id: str | None = None, **_: Any) -> None:
        task_id_var.set(task_id)

    @task_postrun.connect(weak=False)
    def _clear_task_id(**_: Any) -> None:
        task_id_var.set(None)


_connect_celery_signals()
