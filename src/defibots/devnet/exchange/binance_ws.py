"""Binance's WebSocket side over a local venue, as ccxt.pro's `binance` uses it.

Market streams (`/stream/ws/<n>`, also `/ws/<stream>`): SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS
requests answered {"result": ..., "id": n}; `<symbol>@depth` and `<symbol>@depth@100ms` push one
depthUpdate per book version (U = u = the version /api/v3/depth reports as lastUpdateId), so ccxt.pro's
snapshot-plus-diff merge of watch_order_book stays exact.

WebSocket API (`/ws-api/v3`): `userDataStream.subscribe.signature` (HMAC-SHA256 over the sorted params)
answers {"id", "status": 200, "result": {"subscriptionId"}} and then pushes, wrapped as
{"subscriptionId", "event"}, an executionReport per order change and an outboundAccountPosition per
balance change of that account; also userDataStream.unsubscribe, ping, time and account.status.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from defibots.devnet.exchange.accounts import Account
from defibots.devnet.exchange.binance_codec import (
    ApiError,
    account_json,
    check_timestamp,
    execution_report,
    fmt,
)
from defibots.devnet.exchange.book import LevelChange
from defibots.devnet.exchange.market import MarketState
from defibots.devnet.exchange.matching import VenueListener, now_ms
from defibots.devnet.exchange.orders import OrderUpdate

if TYPE_CHECKING:
    from defibots.devnet.exchange.server import LocalExchange

DEPTH_SUFFIXES = ("@depth", "@depth@100ms")


@dataclass(eq=False)
class _Connection:
    """One client socket; messages go out in order through a queue, so sync callers can push."""

    ws: web.WebSocketResponse
    streams: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    def send(self, message: Any) -> None:
        self.queue.put_nowait(json.dumps(message))

    async def pump(self) -> None:
        while True:
            text = await self.queue.get()
            if self.ws.closed:
                return
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(text)


@dataclass(eq=False)
class _UserSubscription:
    connection: _Connection
    subscription_id: int
    account_id: str


def _levels(changes: list[LevelChange]) -> list[list[str]]:
    return [[fmt(price), fmt(qty)] for price, qty in changes]


class BinanceStreams(VenueListener):
    """The WebSocket handlers; registered as a listener of the venue's matching engine."""

    def __init__(self, exchange: LocalExchange) -> None:
        self.exchange = exchange
        self._connections: set[_Connection] = set()
        self._users: list[_UserSubscription] = []
        self._subscription_ids = itertools.count(0)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/stream/ws", self._market_streams),
            web.get("/stream/ws/{stream}", self._market_streams),
            web.get("/ws", self._market_streams),
            web.get("/ws/{stream}", self._market_streams),
            web.get("/ws-api/v3", self._ws_api),
        ]

    async def close_all(self) -> None:
        """Close every client socket (the venue is stopping)."""
        for connection in list(self._connections):
            await connection.ws.close()
        self._connections.clear()
        self._users.clear()

    async def _serve(self, request: web.Request, connection: _Connection, api: bool) -> web.WebSocketResponse:
        await connection.ws.prepare(request)
        self._connections.add(connection)
        pump = asyncio.get_running_loop().create_task(connection.pump())
        try:
            async for message in connection.ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(message.data)
                except ValueError:
                    payload = None
                if api:
                    self._on_api_request(connection, payload)
                else:
                    self._on_stream_request(connection, payload)
        finally:
            self._connections.discard(connection)
            self._users = [u for u in self._users if u.connection is not connection]
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        return connection.ws

    # ---------------------------------------------------------------- market streams

    async def _market_streams(self, request: web.Request) -> web.WebSocketResponse:
        connection = _Connection(web.WebSocketResponse())
        raw = request.match_info.get("stream", "")
        if "@" in raw:  # /ws/<stream>: a raw stream named in the path
            connection.streams.add(raw.lower())
        return await self._serve(request, connection, api=False)

    def _on_stream_request(self, connection: _Connection, payload: Any) -> None:
        if not isinstance(payload, dict) or "method" not in payload:
            connection.send({"error": {"code": 3, "msg": "Invalid JSON: expected an object with a method"}})
            return
        request_id = payload.get("id")
        method = payload["method"]
        params = payload.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            connection.send({"result": sorted(connection.streams), "id": request_id})
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            connection.send(
                {"error": {"code": 1, "msg": "Invalid request: unknown method"}, "id": request_id}
            )
            return
        for stream in params:
            if not isinstance(stream, str) or not self._known_stream(stream):
                connection.send(
                    {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": request_id}
                )
                return
        for stream in params:
            if method == "SUBSCRIBE":
                connection.streams.add(stream.lower())
            else:
                connection.streams.discard(stream.lower())
        connection.send({"result": None, "id": request_id})

    def _known_stream(self, stream: str) -> bool:
        for suffix in DEPTH_SUFFIXES:
            if stream.endswith(suffix) and stream.removesuffix(suffix).upper() in self.exchange.markets:
                return True
        return False

    def depth_changed(
        self, market: MarketState, update_id: int, bids: list[LevelChange], asks: list[LevelChange]
    ) -> None:
        names = {market.spec.market_id.lower() + suffix for suffix in DEPTH_SUFFIXES}
        listeners = [c for c in self._connections if c.streams & names]
        if not listeners:
            return
        event = {
            "e": "depthUpdate",
            "E": now_ms(),
            "s": market.spec.market_id,
            "U": update_id,
            "u": update_id,
            "b": _levels(bids),
            "a": _levels(asks),
        }
        for connection in listeners:
            connection.send(event)

    # ---------------------------------------------------------------- WebSocket API (user data)

    async def _ws_api(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, _Connection(web.WebSocketResponse()), api=True)

    def _on_api_request(self, connection: _Connection, payload: Any) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("method"), str):
            connection.send(
                {"id": None, "status": 400, "error": {"code": -1100, "msg": "Malformed request."}}
            )
            return
        request_id = payload.get("id")
        params = payload.get("params", {})
        try:
            if not isinstance(params, dict):
                raise ApiError(-1100, "Illegal characters found in parameter 'params'.")
            result = self._api_method(connection, payload["method"], params)
        except ApiError as exc:
            connection.send(
                {"id": request_id, "status": exc.status, "error": {"code": exc.code, "msg": exc.msg}}
            )
            return
        connection.send({"id": request_id, "status": 200, "result": result, "rateLimits": []})

    def _api_method(self, connection: _Connection, method: str, params: dict[str, Any]) -> Any:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": now_ms()}
        if method == "userDataStream.subscribe.signature":
            account = self._signed(params)
            subscription = _UserSubscription(connection, next(self._subscription_ids), account.account_id)
            self._users.append(subscription)
            return {"subscriptionId": subscription.subscription_id}
        if method == "userDataStream.unsubscribe":
            wanted = params.get("subscriptionId")
            self._users = [
                u
                for u in self._users
                if not (u.connection is connection and (wanted is None or u.subscription_id == wanted))
            ]
            return {}
        if method == "account.status":
            return account_json(self._signed(params))
        raise ApiError(-1020, "This operation is not supported.")

    def _signed(self, params: dict[str, Any]) -> Account:
        """The WebSocket API's SIGNED rule: HMAC-SHA256 over the other params sorted by name, key=value&..."""
        account = self.exchange.account_for_key(str(params.get("apiKey", "")))
        if account is None:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        signature = str(params.get("signature", ""))
        payload = "&".join(f"{k}={_text(v)}" for k, v in sorted(params.items()) if k != "signature")
        expected = hmac.new(account.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(-1022, "Signature for this request is not valid.")
        check_timestamp({k: _text(v) for k, v in params.items()})
        return account

    def order_changed(self, account: Account, update: OrderUpdate) -> None:
        subscribers = [u for u in self._users if u.account_id == account.account_id]
        if not subscribers:
            return
        event = execution_report(update, now_ms())
        for user in subscribers:
            user.connection.send({"subscriptionId": user.subscription_id, "event": event})

    def balances_changed(self, account: Account, assets: set[str]) -> None:
        subscribers = [u for u in self._users if u.account_id == account.account_id]
        if not subscribers:
            return
        now = now_ms()
        event = {
            "e": "outboundAccountPosition",
            "E": now,
            "u": now,
            "B": [
                {
                    "a": a,
                    "f": fmt(account.free.get(a, Decimal(0))),
                    "l": fmt(account.locked.get(a, Decimal(0))),
                }
                for a in sorted(assets)
            ],
        }
        for user in subscribers:
            user.connection.send({"subscriptionId": user.subscription_id, "event": event})


def _text(value: Any) -> str:
    """A JSON param as it appears in the signed payload (true/false for booleans, like Binance)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
