"""A small TCP proxy in front of the broker that can stall or drop every connection through
it: the services reach the broker through it, so a stall is a network partition for them."""

from __future__ import annotations

import asyncio
import contextlib
import threading

__all__ = ["StallingProxy"]


class StallingProxy:
    """Forwards `listen_port` to `target_port` on 127.0.0.1, in a thread of its own."""

    def __init__(self, listen_port: int, target_port: int) -> None:
        self.listen_port, self.target_port = listen_port, target_port
        self._loop = asyncio.new_event_loop()
        self._open = asyncio.Event()  # set: bytes move; used only on the proxy's loop
        self._open.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", self.listen_port), self._loop
        ).result(10)

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def stall(self) -> None:
        """Stop moving bytes either way (connections stay open, as in a partition)."""
        self._loop.call_soon_threadsafe(self._open.clear)

    def resume(self) -> None:
        """Move bytes again."""
        self._loop.call_soon_threadsafe(self._open.set)

    def drop(self) -> None:
        """Close every connection through the proxy at once (a reset)."""

        def close_all() -> None:
            for writer in list(self._writers):
                writer.close()

        self._loop.call_soon_threadsafe(close_all)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._open.wait()  # no new connection gets through a stall either
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self._writers -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._open.wait()
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.close()
