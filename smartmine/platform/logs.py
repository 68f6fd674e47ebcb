"""One logging configuration for web, worker and beat: key=value lines (or JSON), with request and task ids.

The ids travel in context variables, so any log line written while serving a request or running a task
carries them without the caller passing anything.
"""

from __future__ import annotations

import contextvars
import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
task_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("task_id", default=None)

_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class ContextFilter(logging.Filter):
    """Adds the current request id and task id to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.task_id = task_id_var.get()
        return True


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
    formatter = "json" if log_format == "json" else "keyvalue"
    handlers: dict[str, dict[str, Any]] = {
        "console": {"class": "logging.StreamHandler", "formatter": formatter, "filters": ["context"]},
    }
    if log_file:
        path = Path(log_file)
        if not path.is_absolute():
            path = log_dir / path
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers["file"] = {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(path),
            "maxBytes": 20 * 1024 * 1024,
            "backupCount": 5,
            "encoding": "utf-8",
            "formatter": formatter,
            "filters": ["context"],
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {
            "keyvalue": {"()": KeyValueFormatter},
            "json": {"()": JsonFormatter},
        },
        "handlers": handlers,
        "root": {"handlers": list(handlers), "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},  # SQL only when asked for explicitly
            **{name: {"level": detail_level(level)} for name in ROUTINE_LOGGERS},
        },
    }


class RequestIdMiddleware:
    """Gives each request an id (the client's X-Request-ID if sane) for its log lines and its response."""

    header = "X-Request-ID"

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(self.header, "")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isascii() else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[self.header] = request_id
        return response


def _connect_celery_signals() -> None:
    from celery.signals import task_postrun, task_prerun

    @task_prerun.connect(weak=False)
    def _set_task_id(task_id: str | None = None, **_: Any) -> None:
        task_id_var.set(task_id)

    @task_postrun.connect(weak=False)
    def _clear_task_id(**_: Any) -> None:
        task_id_var.set(None)


_connect_celery_signals()
