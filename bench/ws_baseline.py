"""The yardstick for fan-out: a minimal broadcast server written directly on the `websockets` library.

Clients connect to `/`; whatever the publisher sends on `/publish` is written once to every client with
`websockets.broadcast` (frame encoded once, no per-client task, no snapshot, no subscriptions, no channel
layer). It is what the live stack would cost with nothing but the WebSocket library, so daphne + Channels
+ Redis is measured against it in the same run, on the same machine, with the same client harness.
Usage: `python -m bench.ws_baseline --port P` (127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import ServerConnection, broadcast, serve

PUBLISH_PATH = "/publish"


async def main(port: int) -> None:
    clients: set[ServerConnection] = set()

    async def handler(connection: ServerConnection) -> None:
        if connection.request.path == PUBLISH_PATH:
            async for text in connection:
                broadcast(clients, text)
            return
        clients.add(connection)
        try:
            await connection.wait_closed()
        finally:
            clients.discard(connection)

    async with serve(handler, "127.0.0.1", port, compression=None, max_size=None, ping_interval=None):
        await asyncio.get_running_loop().create_future()  # until terminated


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
