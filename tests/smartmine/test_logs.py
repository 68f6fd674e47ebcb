import json
import logging

from smartmine.platform.logs import JsonFormatter, KeyValueFormatter, request_id_var, task_id_var


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
