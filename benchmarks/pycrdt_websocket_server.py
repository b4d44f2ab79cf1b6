"""The pycrdt-websocket peer: ``ASGIServer(WebsocketServer())`` under uvicorn.

Run as ``python -m benchmarks.pycrdt_websocket_server --port 19001``. A room is
the websocket's path (``ws://127.0.0.1:19001/<room>``); rooms live in memory only.
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn
from pycrdt.websocket import ASGIServer, WebsocketServer, exception_logger


async def serve(host: str, port: int) -> None:
    """Serve rooms on ``host:port`` until cancelled."""
    websocket_server = WebsocketServer(exception_handler=exception_logger)
    app = ASGIServer(websocket_server)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        ws_per_message_deflate=False,  # as every other peer of the benchmark
        ws_ping_interval=None,
        lifespan="off",
    )
    async with websocket_server:
        await uvicorn.Server(config).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
