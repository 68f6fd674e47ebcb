"""A bare ASGI app answering fixed bytes per path: the ceiling of a server and process layout.

bench_api runs it under the same `serveweb` (same daphne, same number of processes) as SmartMine, serving the
very bytes SmartMine answered, so the ratio of the two is what Django and SmartMine cost per request.
The bodies come from the JSON file named by BARE_ASGI_BODIES: {path: body text}.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

_BODIES = {
    path: body.encode() for path, body in json.loads(Path(os.environ["BARE_ASGI_BODIES"]).read_text()).items()
}


async def application(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = _BODIES.get(scope["path"])
    await send(
        {
            "type": "http.response.start",
            "status": 404 if body is None else 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body or b""})
