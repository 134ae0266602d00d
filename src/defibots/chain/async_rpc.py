"""Async JSON-RPC transports shared by the chain listener and the mempool watcher.

`websockets` with a small JSON-RPC multiplexer (WsRpc), not web3's AsyncWeb3 WebSocketProvider: the
watchers must own the connection's life cycle (reconnect with bounded backoff, backfill, one request
channel shared with subscriptions) and see every raw frame (a malformed message is counted and skipped,
never raised out of a provider's internal reader). HTTP (aiohttp) has the same interface; it is also the
bundle pipeline's node client (simulator, local relay, inclusion tracking).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from itertools import count
from types import TracebackType
from typing import Any, Protocol, TypeVar

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from defibots.errors import UserError

T = TypeVar("T")

# ---------------------------------------------------------------------------------------------------------
# JSON-RPC transports


class RpcConnectionError(UserError):
    """The transport failed (refused, closed, timed out, not JSON).

    Watchers reconnect and backfill on it; anywhere else it is the user's node being unreachable, hence a
    one-line UserError.
    """


class RpcReplyError(Exception):
    """The node answered with a JSON-RPC error object (code, message and data as it sent them)."""

    def __init__(self, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method
        self.code = code
        self.message = message
        self.data = data

    @classmethod
    def from_reply(cls, method: str, reply: Any) -> RpcReplyError:
        error = reply.get("error") if isinstance(reply, dict) else None
        if not isinstance(error, dict):
            return cls(method, None, str(error if error is not None else reply))
        code = error.get("code")
        return cls(
            method,
            code if isinstance(code, int) else None,
            str(error.get("message", error)),
            error.get("data"),
        )


class AsyncJsonRpc(Protocol):
    async def call(self, method: str, params: list[Any]) -> Any: ...

    async def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]: ...


def _request(request_id: int, method: str, params: Sequence[Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


def _result(method: str, reply: Any) -> Any:
    if not isinstance(reply, dict):
        raise RpcConnectionError(f"{method}: malformed reply")
    return _reply_value(method, reply, raising=True)


def _reply_value(method: str, reply: dict[str, Any], raising: bool) -> Any:
    """The result of one reply object, or its error (raised, or returned when not `raising`)."""
    if reply.get("error") is not None:
        error = RpcReplyError.from_reply(method, reply)
    elif "result" not in reply:
        error = RpcReplyError(method, None, f"malformed reply {str(reply)[:80]}")
    else:
        return reply["result"]
    if raising:
        raise error
    return error


def to_int(value: Any) -> int:
    """A JSON-RPC quantity ("0x1a", or an int some nodes send) as an int."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 16) if value.startswith(("0x", "0X")) else int(value)
    raise ValueError(f"not a quantity: {value!r}")


class HttpRpc:
    """JSON-RPC over HTTP POST (aiohttp) with batches: the watchers' polling fallback and the bundle pipeline.

    One keep-alive session and JSON-RPC batches keep the simulator's many small calls per block to a few
    milliseconds. Owns its aiohttp session unless one is passed in.
    """

    def __init__(self, url: str, timeout: float = 30.0, session: aiohttp.ClientSession | None = None) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._owns_session = session is None
        self._ids = count(1)

    async def _post(self, payload: Any) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._owns_session = True
        body = json.dumps(payload, separators=(",", ":")).encode()
        try:
            async with self._session.post(
                self.url, data=body, headers={"Content-Type": "application/json"}, timeout=self.timeout
            ) as response:
                text = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RpcConnectionError(
                f"cannot reach node at {self.url}: {exc.__class__.__name__} {exc}"
            ) from None
        try:
            return json.loads(text)
        except ValueError:
            raise RpcConnectionError(f"node at {self.url} answered non-JSON: {text[:80]!r}") from None

    async def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        return _result(method, await self._post(_request(next(self._ids), method, params)))

    async def batch_replies(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Send calls in one request; each answer is the result or an RpcReplyError instance (not raised)."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        replies = await self._post([_request(i, m, p) for i, (m, p) in zip(ids, calls, strict=True)])
        if not isinstance(replies, list):
            error = RpcReplyError.from_reply("batch", replies)  # some nodes answer a batch with one error
            return [error for _ in calls]
        by_id = {reply.get("id"): reply for reply in replies if isinstance(reply, dict)}
        out: list[Any] = []
        for i, (method, _) in zip(ids, calls, strict=True):
            reply = by_id.get(i)
            if reply is None:
                out.append(RpcReplyError(method, None, "no answer in batch"))
            else:
                out.append(_reply_value(method, reply, raising=False))
        return out

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Like batch_replies, but raise the first error."""
        results = await self.batch_replies(calls)
        for result in results:
            if isinstance(result, RpcReplyError):
                raise result
        return results

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> HttpRpc:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


WS_MAX_MESSAGE = 64 * 1024 * 1024


class WsRpc:
    """One websocket: requests matched to replies by id, subscription notifications queued in arrival order.

    The queue is unbounded on purpose: a bounded one would block the reader, and with it the replies the
    consumer may be awaiting. Back-pressure belongs to the engine's bounded queues downstream.
    """

    def __init__(
        self, connection: ClientConnection, url: str, timeout: float, on_malformed: Callable[[], None]
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.on_malformed = on_malformed
        self._ws = connection
        self._ids = count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._notifications: deque[tuple[str, Any]] = deque()
        self._wakeup = asyncio.Event()
        self._closed: str | None = None
        self._reader = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(
        cls, url: str, timeout: float = 10.0, on_malformed: Callable[[], None] | None = None
    ) -> WsRpc:
        try:
            connection = await connect(
                url,
                proxy=None,
                compression=None,
                max_size=WS_MAX_MESSAGE,
                open_timeout=timeout,
                close_timeout=2.0,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise RpcConnectionError(f"{url}: {type(exc).__name__}: {exc}") from None
        return cls(connection, url, timeout, on_malformed or (lambda: None))

    async def _read_loop(self) -> None:
        reason = "connection closed"
        try:
            async for message in self._ws:
                self._dispatch(message)
        except ConnectionClosed as exc:
            reason = f"connection closed ({exc})"
        finally:
            self._closed = reason
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(RpcConnectionError(f"{self.url}: {reason}"))
            self._pending.clear()
            self._wakeup.set()

    def _dispatch(self, message: str | bytes) -> None:
        try:
            decoded = json.loads(message)
        except ValueError:
            self.on_malformed()
            return
        for item in decoded if isinstance(decoded, list) else (decoded,):
            self._dispatch_one(item)

    def _dispatch_one(self, item: Any) -> None:
        if not isinstance(item, dict):
            self.on_malformed()
            return
        if item.get("method") == "eth_subscription":
            params = item.get("params")
            if (
                isinstance(params, dict)
                and isinstance(params.get("subscription"), str)
                and ("result" in params)
            ):
                self._notifications.append((params["subscription"], params["result"]))
                self._wakeup.set()
            else:
                self.on_malformed()
            return
        future = self._pending.pop(item["id"], None) if isinstance(item.get("id"), int) else None
        if future is None:
            self.on_malformed()  # no request waits for it (or a reply after its timeout)
        elif not future.done():
            future.set_result(item)

    async def _send(self, body: Any, ids: list[int]) -> list[asyncio.Future[Any]]:
        if self._closed is not None:
            raise RpcConnectionError(f"{self.url}: {self._closed}")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in ids]
        self._pending.update(zip(ids, futures, strict=True))
        try:
            await self._ws.send(json.dumps(body))
        except ConnectionClosed as exc:
            raise RpcConnectionError(f"{self.url}: connection closed ({exc})") from None
        return futures

    async def _wait(self, futures: list[asyncio.Future[Any]], ids: list[int]) -> list[Any]:
        try:
            return list(await asyncio.wait_for(asyncio.gather(*futures), self.timeout))
        except TimeoutError:
            for i in ids:
                self._pending.pop(i, None)
            raise RpcConnectionError(f"{self.url}: no reply within {self.timeout:g}s") from None

    async def call(self, method: str, params: list[Any]) -> Any:
        ids = [next(self._ids)]
        futures = await self._send(_request(ids[0], method, params), ids)
        return _result(method, (await self._wait(futures, ids))[0])

    async def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        body = [_request(i, m, p) for i, (m, p) in zip(ids, calls, strict=True)]
        replies = await self._wait(await self._send(body, ids), ids)
        return [_result(m, r) for (m, _), r in zip(calls, replies, strict=True)]

    async def subscribe(self, *params: Any) -> str:
        subscription = await self.call("eth_subscribe", list(params))
        if not isinstance(subscription, str):
            raise RpcReplyError("eth_subscribe", None, f"unexpected subscription id {subscription!r}")
        return subscription

    async def next_notification(self) -> tuple[str, Any]:
        """The oldest queued notification; raises RpcConnectionError once the connection is gone."""
        while True:
            if self._notifications:
                return self._notifications.popleft()
            if self._closed is not None:
                raise RpcConnectionError(f"{self.url}: {self._closed}")
            self._wakeup.clear()
            await self._wakeup.wait()

    def queued_notifications(self, limit: int) -> list[tuple[str, Any]]:
        """Up to `limit` notifications already received, without waiting (for batching follow-up calls)."""
        out: list[tuple[str, Any]] = []
        while self._notifications and len(out) < limit:
            out.append(self._notifications.popleft())
        return out

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._ws.close(), self._reader, return_exceptions=True)


@dataclass
class Backoff:
    """Exponential reconnect delay, bounded by `maximum`; reset after a successful (re)connect."""

    initial: float = 0.1
    maximum: float = 5.0
    factor: float = 2.0
    _next: float = field(default=0.0, init=False)

    def next_delay(self) -> float:
        delay = self._next or self.initial
        self._next = min(delay * self.factor, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = 0.0


class StreamSource(Protocol):
    """What `reconnecting` needs of a listener or mempool watcher."""

    ws_url: str | None
    http_url: str | None
    request_timeout: float
    backoff: Backoff

    @property
    def stats(self) -> Any: ...  # has .mode, .reconnects and .connection_failures


async def reconnecting(
    source: StreamSource,
    session: Callable[[WsRpc], AsyncGenerator[T, None]],
    poll: Callable[[HttpRpc], AsyncGenerator[T, None]],
    on_malformed: Callable[[], None],
    on_disconnect: Callable[[], None],
) -> AsyncGenerator[T, None]:
    """Sessions over the websocket (or HTTP polling), retried forever with the source's bounded backoff.

    The one retry loop of the watchers. A session ends when its transport fails; the next one starts
    after a backoff delay and is expected to catch up on what the previous one missed (backfill) and then
    reset the backoff. A websocket refused on the very first connect falls back to polling `http_url`
    for good. Nothing here is fatal: whether the node is reachable at all is a start-up check the
    watcher makes before it runs (a bad URL there is one UserError line).
    """
    mode = "ws" if source.ws_url is not None else "http"
    source.stats.mode = mode
    ever_connected = False
    while True:
        transport: WsRpc | HttpRpc
        try:
            if mode == "ws":
                assert source.ws_url is not None
                transport = await WsRpc.connect(source.ws_url, source.request_timeout, on_malformed)
            else:
                assert source.http_url is not None
                transport = await _http_session(source.http_url, source.request_timeout)
        except (RpcConnectionError, RpcReplyError):
            source.stats.connection_failures += 1
            if mode == "ws" and not ever_connected and source.http_url is not None:
                mode = source.stats.mode = "http"
                continue
            await asyncio.sleep(source.backoff.next_delay())
            continue
        if ever_connected:
            source.stats.reconnects += 1
        ever_connected = True
        stream = session(transport) if isinstance(transport, WsRpc) else poll(transport)
        try:
            async with aclosing(stream) as items:
                async for item in items:
                    yield item
        except (RpcConnectionError, RpcReplyError):
            source.stats.connection_failures += 1  # reconnect below; the next session catches up
        finally:
            await transport.close()
            on_disconnect()
        await asyncio.sleep(source.backoff.next_delay())


async def _http_session(url: str, timeout: float) -> HttpRpc:
    """An HTTP "connection": a client whose node has just answered, so a session starts only on a live
    node (and reconnects are counted as for the websocket)."""
    http = HttpRpc(url, timeout)
    try:
        await http.call("eth_chainId")
    except BaseException:
        await http.close()
        raise
    return http
