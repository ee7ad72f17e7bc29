"""The floor: the simplest fast HTTP/1.1 server the standard library makes, which reads each
request whole (headers, then the body by its ``Content-Length``) and answers 200 without
decoding anything. What the machine can do over loopback in one Python process: the collector's
goal is a share of it.

asyncio streams on one event loop in a thread of its own, keep-alive, no per-request thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

_ANSWER = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"status": 1}'
)


class FloorServer:
    """Counts the requests and body bytes it read; ``port`` once started."""

    def __init__(self) -> None:
        self.requests = 0
        self.body_bytes = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="floor-server", daemon=True)
        self._stop: asyncio.Future[None] | None = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                self.body_bytes += len(body)
                writer.write(_ANSWER)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=128)
        self.port = server.sockets[0].getsockname()[1]
        self._stop = self._loop.create_future()
        self._ready.set()
        async with server:
            await self._stop

    def __enter__(self) -> FloorServer:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        def stop() -> None:
            if self._stop is not None and not self._stop.done():
                self._stop.set_result(None)

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(timeout=10)
        with contextlib.suppress(RuntimeError):
            self._loop.close()
