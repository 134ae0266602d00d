"""A TCP proxy the chain tests run in-process in front of anvil, to drop connections and inject frames.

Imported relatively by the tests in this package (pytest runs with --import-mode=importlib).
"""

from __future__ import annotations

import asyncio

from defibots.foundry.anvil import free_port


class TcpProxy:
    """127.0.0.1:<port> -> anvil. `cut()` aborts every connection and stops listening until `resume()`."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.clients: list[asyncio.StreamWriter] = []
        self.upstreams: list[asyncio.StreamWriter] = []

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def resume(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in [*self.clients, *self.upstreams]:
            writer.transport.abort()
        self.clients.clear()
        self.upstreams.clear()
        self.server = None

    def inject(self, frame: bytes) -> None:
        for writer in self.clients:
            writer.write(frame)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.clients.append(writer)
        self.upstreams.append(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()


def text_frame(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    return bytes([0x81, len(payload)]) + payload  # server frames are unmasked


class ThreadedTcpProxy:
    """A TcpProxy on its own event loop thread, so that blocking clients (JsonRpc, web3) on the test's
    loop can go through it without deadlocking."""

    def __init__(self, target_port: int) -> None:
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.proxy = TcpProxy(target_port)

    @property
    def http_url(self) -> str:
        return self.proxy.http_url

    @property
    def listening(self) -> bool:
        return self.proxy.server is not None

    def resume(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.resume(), self._loop).result()

    def cut(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.cut(), self._loop).result()

    def close(self) -> None:
        if self.listening:
            self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
