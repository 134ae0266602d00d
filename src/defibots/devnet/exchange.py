"""A local spot exchange that answers like Binance's REST API, so ccxt's real `binance` class can trade on it.

It serves what ccxt's binance calls for markets, tickers, depth, time, taker orders and balances
(/api/v3/exchangeInfo, ticker/24hr, ticker/bookTicker, ticker/price, depth, time, ping, order,
order/test, account). Signed endpoints check the API key, the HMAC-SHA256 signature over
query string + body (Binance's rule) and the timestamp against recvWindow, and reply with Binance's error
shapes, so ccxt maps them to its own exception classes. Each symbol has a book with real tick and lot sizes
that can be moved (`set_mid`, `random_walk`, `start_noise`); taker orders walk it, consume the liquidity
they take until the next move, and pay the taker fee in the asset received, like Binance spot.

Single event loop: the server, `set_mid` and the noise task must run on the same asyncio loop. Another
process (or a thread with its own loop) moves prices through the admin endpoint instead: POST
/admin/mid {"symbol": "ETH/USDT", "price": "3001.5"} sets a mid and answers the new top of book
(`admin_set_mid` is its client). It is not part of Binance's API and answers loopback clients only.
`ExchangeThread` serves an exchange from a daemon thread for synchronous programs (`devnet noise`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import math
import random
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from defibots.cex.book import Depth, Fill, Level, Side, fee_for, floor_to_step, walk, walk_quote
from defibots.devnet.anvil import free_port, port_in_use
from defibots.errors import UserError

EIGHT = Decimal("0.00000001")  # Binance prints prices, quantities and commissions with 8 decimals
MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
RATE_LIMITS = (
    ("REQUEST_WEIGHT", "MINUTE", 1, 6000),
    ("ORDERS", "SECOND", 10, 100),
    ("ORDERS", "DAY", 1, 200000),
)
BAD_LIMIT = "Illegal characters found in parameter 'limit'; legal range is '1-5000'."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fmt(value: Decimal) -> str:
    """Binance's number format: fixed point with 8 decimals (more only if the value needs them)."""
    if value == value.quantize(EIGHT):
        return f"{value.quantize(EIGHT):f}"
    return f"{value:f}"


class ApiError(Exception):
    """A request Binance would reject: becomes {"code": ..., "msg": ...} with an HTTP 4xx status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def _mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


@dataclass(frozen=True)
class MarketSpec:
    """One spot symbol and the shape of its simulated book."""

    symbol: str  # unified, "ETH/USDT"
    mid: Decimal
    tick_size: Decimal = Decimal("0.01")
    lot_size: Decimal = Decimal("0.0001")
    min_qty: Decimal = Decimal("0.0001")
    max_qty: Decimal = Decimal("9000")
    min_notional: Decimal = Decimal("5")
    levels: int = 50
    spread_ticks: int = 2  # best ask - best bid, in ticks
    level_step_ticks: int = 5  # distance between consecutive levels, in ticks
    top_qty: Decimal = Decimal("2")  # base quantity near the top; deeper levels hold more
    depth_growth: Decimal = Decimal("0.15")  # each level deeper holds this much more (relative)

    def __post_init__(self) -> None:
        if "/" not in self.symbol:
            raise UserError(f"market symbol {self.symbol!r} must look like BASE/QUOTE")
        if min(self.mid, self.tick_size, self.lot_size) <= 0 or self.levels < 1 or self.spread_ticks < 1:
            raise UserError(f"market {self.symbol}: mid, tick, lot, levels and spread must be positive")

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]

    @property
    def market_id(self) -> str:
        return self.base + self.quote


@dataclass
class _Market:
    """Mutable state of one symbol: the live book and the 24h statistics."""

    spec: MarketSpec
    mid: Decimal
    bids: list[list[Decimal]] = field(default_factory=list)  # [price, qty], best first
    asks: list[list[Decimal]] = field(default_factory=list)
    update_id: int = 0
    open_price: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    low: Decimal = Decimal(0)
    last_price: Decimal = Decimal(0)
    last_qty: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    first_trade_id: int = -1
    last_trade_id: int = -1
    trade_count: int = 0


class LocalExchange:
    """A Binance-compatible spot exchange on 127.0.0.1 for tests and the devnet (port None or 0: a free one).

    Example:
        async with LocalExchange(None, [MarketSpec("ETH/USDT", Decimal("3000"))]) as ex:
            feed = CexFeed("binance", ["ETH/USDT"], url_override=ex.url)
    """

    def __init__(
        self,
        port: int | None,
        markets: Iterable[MarketSpec],
        *,
        host: str = "127.0.0.1",
        api_key: str | None = None,
        api_secret: str | None = None,
        taker_fee_bps: Decimal | int = 10,
        balances: Mapping[str, Decimal | int | str] | None = None,
        seed: int = 0,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.api_key = api_key or secrets.token_hex(32)
        self.api_secret = api_secret or secrets.token_hex(32)
        self.taker_fee_bps = Decimal(taker_fee_bps)
        self.balances: dict[str, Decimal] = {k: Decimal(v) for k, v in (balances or {}).items()}
        self.rng = random.Random(seed)
        self.markets: dict[str, _Market] = {}
        for spec in markets:
            if spec.market_id in self.markets:
                raise UserError(f"market {spec.symbol} configured twice")
            market = _Market(spec=spec, mid=spec.mid)
            self.markets[spec.market_id] = market
            self._rebuild(market)
            market.open_price = market.high = market.low = market.last_price = market.mid
            for asset in (spec.base, spec.quote):
                self.balances.setdefault(asset, Decimal(0))
        self.requests = 0
        self._order_id = 0
        self._trade_id = 0
        self._runner: web.AppRunner | None = None
        self._noise: asyncio.Task[None] | None = None
        self.started_ms = self._now_ms()

    # ---------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> LocalExchange:
        if port_in_use(self.host, self.port):
            raise UserError(f"port {self.port} on {self.host} is already in use")
        app = web.Application(middlewares=[self._errors_middleware])
        app.add_routes(
            [
                web.get("/api/v3/ping", self._ping),
                web.get("/api/v3/time", self._time),
                web.get("/api/v3/exchangeInfo", self._exchange_info),
                web.get("/api/v3/depth", self._depth),
                web.get("/api/v3/ticker/24hr", self._ticker_24hr),
                web.get("/api/v3/ticker/bookTicker", self._book_ticker),
                web.get("/api/v3/ticker/price", self._ticker_price),
                web.post("/api/v3/order", self._new_order),
                web.post("/api/v3/order/test", self._test_order),
                web.get("/api/v3/account", self._account),
                web.post("/admin/mid", self._admin_mid),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        return self

    async def stop(self) -> None:
        await self.stop_noise()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LocalExchange:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ---------------------------------------------------------------- moving the market

    def market(self, symbol: str) -> _Market:
        """State of a symbol, by unified ("ETH/USDT") or exchange ("ETHUSDT") name."""
        key = symbol.replace("/", "")
        if key not in self.markets:
            raise UserError(f"local exchange has no market {symbol}")
        return self.markets[key]

    def set_mid(self, symbol: str, price: Decimal | int | str) -> None:
        """Move a symbol's mid price and rebuild its book around it (consumed liquidity comes back)."""
        market = self.market(symbol)
        mid = Decimal(price)
        if mid <= 0:
            raise UserError(f"mid price must be positive, got {price}")
        market.mid = mid
        self._rebuild(market)
        market.high = max(market.high, mid)
        market.low = min(market.low, mid)

    def random_walk(self, symbol: str, sigma_bps: float = 2.0) -> Decimal:
        """One step of market noise: mid *= exp(N(0, sigma)); returns the new mid."""
        market = self.market(symbol)
        factor = Decimal(repr(math.exp(self.rng.gauss(0.0, sigma_bps / 10_000))))
        mid = max(market.mid * factor, market.spec.tick_size * 10)
        self.set_mid(symbol, mid.quantize(market.spec.tick_size))
        return market.mid

    def start_noise(self, interval_s: float = 0.5, sigma_bps: float = 2.0) -> None:
        """Random-walk every symbol every `interval_s` seconds until `stop_noise`/`stop`."""
        if self._noise is not None:
            return

        async def run() -> None:
            while True:
                await asyncio.sleep(interval_s)
                for market in self.markets.values():
                    self.random_walk(market.spec.symbol, sigma_bps)

        self._noise = asyncio.get_running_loop().create_task(run(), name="local-exchange-noise")

    async def stop_noise(self) -> None:
        if self._noise is not None:
            self._noise.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._noise
            self._noise = None

    def depth(self, symbol: str, limit: int | None = None) -> Depth:
        """The current book as the pure `Depth` snapshot (what ccxt should see)."""
        market = self.market(symbol)
        n = limit or max(len(market.bids), len(market.asks))
        return Depth(
            venue="local",
            symbol=market.spec.symbol,
            bids=tuple(Level(p, q) for p, q in market.bids[:n]),
            asks=tuple(Level(p, q) for p, q in market.asks[:n]),
            timestamp_ms=self._now_ms(),
            nonce=market.update_id,
        )

    def _rebuild(self, market: _Market) -> None:
        spec = market.spec
        tick = spec.tick_size
        half = tick * spec.spread_ticks / 2
        best_bid = ((market.mid - half) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
        best_ask = best_bid + tick * spec.spread_ticks
        step = tick * spec.level_step_ticks
        bids: list[list[Decimal]] = []
        asks: list[list[Decimal]] = []
        for i in range(spec.levels):
            size = spec.top_qty * (1 + spec.depth_growth * i)
            for book, price in ((bids, best_bid - step * i), (asks, best_ask + step * i)):
                jitter = Decimal(self.rng.randint(70, 130)) / 100
                qty = max(floor_to_step(size * jitter, spec.lot_size), spec.lot_size)
                if price > 0:
                    book.append([price, qty])
        market.bids, market.asks = bids, asks
        market.update_id += 1

    # ---------------------------------------------------------------- HTTP plumbing

    @staticmethod
    def _now_ms() -> int:
        return time.time_ns() // 1_000_000

    @web.middleware
    async def _errors_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests += 1
        try:
            return await handler(request)
        except ApiError as exc:
            return web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)

    def _symbol_param(self, params: Mapping[str, str]) -> _Market:
        market_id = params.get("symbol")
        if not market_id:
            raise _mandatory("symbol")
        market = self.markets.get(market_id.upper())
        if market is None:
            raise ApiError(-1121, "Invalid symbol.")
        return market

    def _symbols_param(self, params: Mapping[str, str]) -> list[_Market] | None:
        """`symbol=X`, `symbols=["X","Y"]`, or neither (all); None when a single symbol was asked."""
        if "symbol" in params:
            return None
        if "symbols" not in params:
            return list(self.markets.values())
        try:
            ids = json.loads(params["symbols"])
        except json.JSONDecodeError:
            raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.") from None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.")
        out = []
        for market_id in ids:
            if market_id not in self.markets:
                raise ApiError(-1121, "Invalid symbol.")
            out.append(self.markets[market_id])
        return out

    # ---------------------------------------------------------------- admin (local only, not Binance's)

    async def _admin_mid(self, request: web.Request) -> web.Response:
        """Move a symbol's mid from outside this event loop (another process, a sync thread)."""
        if not _is_loopback(request.remote):
            raise ApiError(-2015, "The admin endpoint answers local clients only.", status=403)
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(-1100, 'Body must be JSON: {"symbol": ..., "price": ...}.') from None
        symbol = body.get("symbol") if isinstance(body, dict) else None
        raw_price = body.get("price") if isinstance(body, dict) else None
        if not isinstance(symbol, str) or symbol.replace("/", "").upper() not in self.markets:
            raise ApiError(-1121, "Invalid symbol.")
        try:
            price = Decimal(str(raw_price))
        except InvalidOperation:
            raise ApiError(-1100, "Illegal characters found in parameter 'price'.") from None
        if not price.is_finite() or price <= 0:
            raise ApiError(-1100, "Illegal characters found in parameter 'price'.")
        market = self.market(symbol.upper())
        self.set_mid(market.spec.symbol, price.quantize(market.spec.tick_size))
        bid, _, ask, _ = self._top(market)
        return web.json_response(
            {"symbol": market.spec.symbol, "mid": fmt(market.mid), "bid": fmt(bid), "ask": fmt(ask)}
        )

    # ---------------------------------------------------------------- public endpoints

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": self._now_ms()})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        selected = self._symbols_param(request.query)
        if selected is None:
            selected = [self._symbol_param(request.query)]
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": self._now_ms(),
                "rateLimits": [
                    {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit}
                    for kind, interval, num, limit in RATE_LIMITS
                ],
                "exchangeFilters": [],
                "symbols": [self._symbol_info(m.spec) for m in selected],
            }
        )

    @staticmethod
    def _symbol_info(spec: MarketSpec) -> dict[str, Any]:
        return {
            "symbol": spec.market_id,
            "status": "TRADING",
            "baseAsset": spec.base,
            "baseAssetPrecision": 8,
            "quoteAsset": spec.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "MARKET"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(spec.tick_size),
                    "maxPrice": fmt(Decimal(1_000_000)),
                    "tickSize": fmt(spec.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fmt(spec.min_qty),
                    "maxQty": fmt(spec.max_qty),
                    "stepSize": fmt(spec.lot_size),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": fmt(Decimal(0)),
                    "maxQty": fmt(spec.max_qty),
                    "stepSize": fmt(Decimal(0)),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt(spec.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fmt(Decimal(9_000_000)),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    async def _depth(self, request: web.Request) -> web.Response:
        market = self._symbol_param(request.query)
        raw_limit = request.query.get("limit", "100")
        try:
            limit = int(raw_limit)
        except ValueError:
            raise ApiError(-1100, BAD_LIMIT) from None
        if not 1 <= limit <= 5000:
            raise ApiError(-1100, BAD_LIMIT)
        return web.json_response(
            {
                "lastUpdateId": market.update_id,
                "bids": [[fmt(p), fmt(q)] for p, q in market.bids[:limit]],
                "asks": [[fmt(p), fmt(q)] for p, q in market.asks[:limit]],
            }
        )

    def _top(self, market: _Market) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        bid, bid_qty = market.bids[0] if market.bids else (Decimal(0), Decimal(0))
        ask, ask_qty = market.asks[0] if market.asks else (Decimal(0), Decimal(0))
        return bid, bid_qty, ask, ask_qty

    def _ticker(self, market: _Market) -> dict[str, Any]:
        bid, bid_qty, ask, ask_qty = self._top(market)
        now = self._now_ms()
        change = market.last_price - market.open_price
        vwap = market.quote_volume / market.volume if market.volume else market.last_price
        return {
            "symbol": market.spec.market_id,
            "priceChange": fmt(change),
            "priceChangePercent": f"{(change / market.open_price * 100).quantize(Decimal('0.001'))}",
            "weightedAvgPrice": fmt(vwap.quantize(EIGHT)),
            "prevClosePrice": fmt(market.open_price),
            "lastPrice": fmt(market.last_price),
            "lastQty": fmt(market.last_qty),
            "bidPrice": fmt(bid),
            "bidQty": fmt(bid_qty),
            "askPrice": fmt(ask),
            "askQty": fmt(ask_qty),
            "openPrice": fmt(market.open_price),
            "highPrice": fmt(market.high),
            "lowPrice": fmt(market.low),
            "volume": fmt(market.volume),
            "quoteVolume": fmt(market.quote_volume),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": market.first_trade_id,
            "lastId": market.last_trade_id,
            "count": market.trade_count,
        }

    def _many(self, request: web.Request, render: Callable[[_Market], dict[str, Any]]) -> web.Response:
        selected = self._symbols_param(request.query)
        if selected is None:
            return web.json_response(render(self._symbol_param(request.query)))
        return web.json_response([render(m) for m in selected])

    async def _ticker_24hr(self, request: web.Request) -> web.Response:
        return self._many(request, self._ticker)

    async def _book_ticker(self, request: web.Request) -> web.Response:
        def render(market: _Market) -> dict[str, Any]:
            bid, bid_qty, ask, ask_qty = self._top(market)
            return {
                "symbol": market.spec.market_id,
                "bidPrice": fmt(bid),
                "bidQty": fmt(bid_qty),
                "askPrice": fmt(ask),
                "askQty": fmt(ask_qty),
            }

        return self._many(request, render)

    async def _ticker_price(self, request: web.Request) -> web.Response:
        return self._many(request, lambda m: {"symbol": m.spec.market_id, "price": fmt(m.last_price)})

    # ---------------------------------------------------------------- signed endpoints

    async def _signed_params(self, request: web.Request) -> dict[str, str]:
        """Binance's SIGNED checks: API key, HMAC over query string + body, then timestamp/recvWindow."""
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise ApiError(-2014, "API-key format invalid.", status=401)
        if not hmac.compare_digest(key, self.api_key):
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        query = request.rel_url.raw_query_string
        body = (await request.read()).decode("utf-8", errors="replace")
        signature: str | None = None
        unsigned: list[str] = []
        for raw in (query, body):
            kept = []
            for part in raw.split("&") if raw else []:
                if part.startswith("signature="):
                    signature = part.removeprefix("signature=")
                else:
                    kept.append(part)
            unsigned.append("&".join(kept))
        if not signature:
            raise _mandatory("signature")
        expected = hmac.new(self.api_secret.encode(), "".join(unsigned).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(-1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        params.pop("signature", None)
        timestamp = self._int_param(params, "timestamp")
        recv_window = self._int_param(params, "recvWindow", DEFAULT_RECV_WINDOW_MS)
        if recv_window > MAX_RECV_WINDOW_MS:
            raise ApiError(-1131, "recvWindow must be less than 60000")
        now = self._now_ms()
        if not (timestamp < now + 1000 and now - timestamp <= recv_window):
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    @staticmethod
    def _int_param(params: Mapping[str, str], name: str, default: int | None = None) -> int:
        raw = params.get(name)
        if raw is None or raw == "":
            if default is None:
                raise _mandatory(name)
            return default
        try:
            return int(raw)
        except ValueError:
            raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None

    @staticmethod
    def _decimal_param(params: Mapping[str, str], name: str) -> Decimal | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None
        if not value.is_finite() or value <= 0:
            raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.")
        return value

    async def _account(self, request: web.Request) -> web.Response:
        await self._signed_params(request)
        rate, zero = fmt(self.taker_fee_bps / 10_000), fmt(Decimal(0))
        return web.json_response(
            {
                "makerCommission": int(self.taker_fee_bps),
                "takerCommission": int(self.taker_fee_bps),
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {"maker": rate, "taker": rate, "buyer": zero, "seller": zero},
                "canTrade": True,
                "canWithdraw": False,
                "canDeposit": False,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": self._now_ms(),
                "accountType": "SPOT",
                "balances": [
                    {"asset": asset, "free": fmt(amount), "locked": fmt(Decimal(0))}
                    for asset, amount in sorted(self.balances.items())
                ],
                "permissions": ["SPOT"],
                "uid": 1,
            }
        )

    async def _test_order(self, request: web.Request) -> web.Response:
        params = await self._signed_params(request)
        self._plan_order(params)
        return web.json_response({})

    async def _new_order(self, request: web.Request) -> web.Response:
        params = await self._signed_params(request)
        market, side, order_type, tif, fill = self._plan_order(params)
        return web.json_response(self._execute(params, market, side, order_type, tif, fill))

    def _plan_order(self, params: Mapping[str, str]) -> tuple[_Market, Side, str, str, Fill]:
        """Validate like Binance's filters and walk the book; nothing changes until `_execute`."""
        market = self._symbol_param(params)
        spec = market.spec
        side_raw = params.get("side", "").upper()
        if side_raw not in ("BUY", "SELL"):
            raise _mandatory("side")
        side: Side = "buy" if side_raw == "BUY" else "sell"
        order_type = params.get("type", "").upper()
        if not order_type:
            raise _mandatory("type")
        if order_type not in ("MARKET", "LIMIT"):
            raise ApiError(-1116, "Invalid orderType.")
        quantity = self._decimal_param(params, "quantity")
        quote_qty = self._decimal_param(params, "quoteOrderQty")
        limit_price = None
        tif = "GTC"
        if order_type == "LIMIT":
            tif = params.get("timeInForce", "").upper()
            if not tif:
                raise _mandatory("timeInForce")
            if tif not in ("IOC", "FOK"):
                raise ApiError(-1020, "This operation is not supported.")  # the local book takes, never rests
            limit_price = self._decimal_param(params, "price")
            if limit_price is None:
                raise _mandatory("price")
            if limit_price % spec.tick_size:
                raise ApiError(-1013, "Filter failure: PRICE_FILTER")
            if quantity is None:
                raise _mandatory("quantity")
            quote_qty = None
        elif (quantity is None) == (quote_qty is None):
            raise ApiError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty.")
        depth = self.depth(spec.symbol)
        if quantity is not None:
            if not spec.min_qty <= quantity <= spec.max_qty or (quantity - spec.min_qty) % spec.lot_size:
                raise ApiError(-1013, "Filter failure: LOT_SIZE")
            fee = self.taker_fee_bps
            fill = walk(depth, side, quantity, taker_fee_bps=fee, limit_price=limit_price, fee_quantum=EIGHT)
            reference = limit_price or (fill.legs[0].price if fill.legs else spec.mid)
            notional = quantity * reference
        elif quote_qty is not None:
            fill = walk_quote(
                depth, side, quote_qty, spec.lot_size, taker_fee_bps=self.taker_fee_bps, fee_quantum=EIGHT
            )
            notional = quote_qty
        else:  # unreachable: exactly one of quantity / quoteOrderQty is set here
            raise _mandatory("quantity")
        if notional < spec.min_notional:
            raise ApiError(-1013, "Filter failure: NOTIONAL")
        if tif == "FOK" and not fill.complete:
            fill = Fill(side, fill.requested_qty, Decimal(0), Decimal(0), Decimal(0), ())
        spend_asset, spend = (spec.quote, fill.quote_qty) if side == "buy" else (spec.base, fill.base_qty)
        if self.balances.get(spend_asset, Decimal(0)) < spend:
            raise ApiError(-2010, "Account has insufficient balance for requested action.")
        return market, side, order_type, tif, fill

    def _execute(
        self, params: Mapping[str, str], market: _Market, side: Side, order_type: str, tif: str, fill: Fill
    ) -> dict[str, Any]:
        spec = market.spec
        now = self._now_ms()
        self._order_id += 1
        fills = []
        book = market.asks if side == "buy" else market.bids
        for leg in fill.legs:
            book[0][1] -= leg.qty  # plan and execute run without an await between: book[0] is leg's level
            if book[0][1] <= 0:
                book.pop(0)
            self._trade_id += 1
            cost = leg.price * leg.qty
            commission = fee_for(leg.qty if side == "buy" else cost, self.taker_fee_bps, EIGHT)
            fills.append(
                {
                    "price": fmt(leg.price),
                    "qty": fmt(leg.qty),
                    "commission": fmt(commission),
                    "commissionAsset": spec.base if side == "buy" else spec.quote,
                    "tradeId": self._trade_id,
                }
            )
            if market.first_trade_id < 0:
                market.first_trade_id = self._trade_id
            market.last_trade_id = self._trade_id
            market.trade_count += 1
            market.last_price, market.last_qty = leg.price, leg.qty
            market.high, market.low = max(market.high, leg.price), min(market.low, leg.price)
            market.volume += leg.qty
            market.quote_volume += cost
        if fill.legs:
            market.update_id += 1
            if side == "buy":
                self.balances[spec.quote] -= fill.quote_qty
                self.balances[spec.base] += fill.base_qty - fill.fee
            else:
                self.balances[spec.base] -= fill.base_qty
                self.balances[spec.quote] += fill.quote_qty - fill.fee
        # a quote-sized order is whole unless it ran out of book (walk_quote always reports "complete")
        by_quote = not params.get("quantity")
        status = "FILLED" if fill.legs and fill.complete and (book or not by_quote) else "EXPIRED"
        client_id = params.get("newClientOrderId") or f"local-{self._order_id}"
        ack: dict[str, Any] = {
            "symbol": spec.market_id,
            "orderId": self._order_id,
            "orderListId": -1,
            "clientOrderId": client_id,
            "transactTime": now,
        }
        resp_type = params.get("newOrderRespType", "FULL").upper()
        if resp_type == "ACK":
            return ack
        result = ack | {
            "price": fmt(Decimal(params.get("price") or 0)),
            "origQty": fmt(fill.requested_qty),
            "executedQty": fmt(fill.base_qty),
            "origQuoteOrderQty": fmt(Decimal(params.get("quoteOrderQty") or 0)),
            "cummulativeQuoteQty": fmt(fill.quote_qty),
            "status": status,
            "timeInForce": tif,
            "type": order_type,
            "side": "BUY" if side == "buy" else "SELL",
            "workingTime": now,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if resp_type == "FULL":
            result["fills"] = fills
        return result


def _is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


def admin_set_mid(url: str, symbol: str, price: Decimal, timeout: float = 5.0) -> dict[str, str]:
    """Set `symbol`'s mid on a local exchange at `url` (its admin endpoint); returns the new top of book."""
    body = json.dumps({"symbol": symbol, "price": str(price)}).encode()
    request = urllib.request.Request(
        url.rstrip("/") + "/admin/mid", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("msg", exc.reason)
        except (ValueError, AttributeError):
            message = exc.reason
        raise UserError(f"local exchange {url} refused the price move: {message}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise UserError(f"cannot reach the local exchange at {url}: {getattr(exc, 'reason', exc)}") from None
    if not isinstance(reply, dict):
        raise UserError(f"local exchange {url} answered something unexpected")
    return {str(k): str(v) for k, v in reply.items()}


class ExchangeThread:
    """A LocalExchange served from its own event loop in a daemon thread, for synchronous programs.

    Move its prices with `admin_set_mid(thread.url, ...)` (the exchange's loop owns its state).
    """

    def __init__(self, exchange: LocalExchange) -> None:
        self.exchange = exchange
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.exchange.url

    def start(self, timeout: float = 10.0) -> ExchangeThread:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="local-exchange", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self.exchange.start(), loop).result(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.exchange.stop(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> ExchangeThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
