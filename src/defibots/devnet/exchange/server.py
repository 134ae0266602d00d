"""`LocalExchange`: a local spot venue that answers like Binance (REST and WebSocket) or Bybit (V5 REST), so
ccxt's real `binance` / `binance` pro / `bybit` classes trade on it, and `ExchangeThread`, which serves
one from a daemon thread for synchronous programs.

Each symbol has a resting book (`book`) matched with price-time priority (`matching`). A synthetic market
maker keeps a ladder of quotes around the symbol's mid (`liquidity`) and re-quotes whenever the mid moves
(`set_mid`, `random_walk`, `start_noise`); taker orders fill against it, and resting orders of ours are
hit when the mid moves through them. Fees are charged per account, maker or taker, on the asset received.

Single event loop: the server, `set_mid` and the noise task must run on the same asyncio loop. Another
process (or a thread with its own loop) moves prices through the admin endpoint instead: POST
/admin/mid {"symbol": "ETH/USDT", "price": "3001.5"} sets a mid and answers the new top of book
(`admin_set_mid` is its client). It is not part of any venue's API and answers loopback clients only.
Test-only: `delay_responses` (or POST /admin/test/delay {"method", "path", "seconds", "count"}) holds the
next `count` answers to METHOD path for `seconds` after the request was served, so a client times out on
a request the venue did act on (how a retried create is tested).
`ccxt_config` (module `ccxt_config`) gives the ccxt settings that point a client at a venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import math
import random
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import TracebackType

from aiohttp import web

from defibots.cex.book import Depth
from defibots.devnet.exchange.accounts import Account
from defibots.devnet.exchange.binance_codec import ApiError, fmt
from defibots.devnet.exchange.binance_rest import BinanceRestApi
from defibots.devnet.exchange.binance_ws import BinanceStreams
from defibots.devnet.exchange.bybit_rest import BybitRestApi
from defibots.devnet.exchange.candles import PriceHistory
from defibots.devnet.exchange.ccxt_config import Venue
from defibots.devnet.exchange.market import MarketSpec, MarketState, depth_snapshot, top_of_book
from defibots.devnet.exchange.matching import MatchingEngine, now_ms
from defibots.devnet.exchange.rate_limit import RateLimiter, RateLimits
from defibots.errors import UserError
from defibots.foundry.anvil import free_port, port_in_use


class LocalExchange:
    """A Binance- or Bybit-compatible spot venue on 127.0.0.1 for tests and the devnet (port None/0: free).

    Example:
        async with LocalExchange(None, [MarketSpec("ETH/USDT", Decimal("3000"))]) as ex:
            client = ccxt.pro.binance(ccxt_config(ex.url, "binance", ex.api_key, ex.api_secret))
    """

    def __init__(
        self,
        port: int | None,
        markets: Iterable[MarketSpec],
        *,
        host: str = "127.0.0.1",
        venue: Venue = "binance",
        api_key: str | None = None,
        api_secret: str | None = None,
        taker_fee_bps: Decimal | int = 10,
        maker_fee_bps: Decimal | int | None = None,
        balances: Mapping[str, Decimal | int | str] | None = None,
        rate_limits: RateLimits | None = None,
        seed: int = 0,
    ) -> None:
        if venue not in ("binance", "bybit"):
            raise UserError(f"unknown local venue {venue!r} (binance or bybit)")
        self.venue: Venue = venue
        self.host = host
        self.port = port or free_port(host)
        self.rng = random.Random(seed)
        self.engine = MatchingEngine()
        self.limiter = RateLimiter(rate_limits or RateLimits())
        self._accounts_by_key: dict[str, Account] = {}
        self.markets: dict[str, MarketState] = {}
        self.account = self.add_account(
            api_key=api_key,
            api_secret=api_secret,
            balances=balances,
            maker_fee_bps=taker_fee_bps if maker_fee_bps is None else maker_fee_bps,
            taker_fee_bps=taker_fee_bps,
        )
        for spec in markets:
            if spec.market_id in self.markets:
                raise UserError(f"market {spec.symbol} configured twice")
            market = MarketState(spec=spec, mid=spec.mid)
            market.history.record(now_ms(), spec.mid)
            self.markets[spec.market_id] = market
            self.engine.refresh_liquidity(market, self.rng)
            market.open_price = market.high = market.low = market.last_price = market.mid
            for asset in (spec.base, spec.quote):
                self.account.open(asset)
        self.requests = 0
        self.streams = BinanceStreams(self)
        self.engine.listeners.append(self.streams)
        self.api: BinanceRestApi | BybitRestApi = (
            BinanceRestApi(self) if venue == "binance" else BybitRestApi(self)
        )
        self._runner: web.AppRunner | None = None
        self._noise: asyncio.Task[None] | None = None
        self._delays: list[_Delay] = []  # test hook
        self.started_ms = now_ms()

    # ---------------------------------------------------------------- accounts

    def add_account(
        self,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        balances: Mapping[str, Decimal | int | str] | None = None,
        maker_fee_bps: Decimal | int = 10,
        taker_fee_bps: Decimal | int = 10,
    ) -> Account:
        """Open another trading account (its own keys, balances and fees) on this venue."""
        key = api_key or secrets.token_hex(32)
        if key in self._accounts_by_key:
            raise UserError("an account with this API key already exists")
        account = Account(
            f"account-{len(self._accounts_by_key) + 1}",
            key,
            api_secret or secrets.token_hex(32),
            balances=balances,
            maker_fee_bps=maker_fee_bps,
            taker_fee_bps=taker_fee_bps,
        )
        for market in self.markets.values():
            account.open(market.spec.base)
            account.open(market.spec.quote)
        self._accounts_by_key[key] = account
        self.engine.add_account(account)
        return account

    def account_for_key(self, api_key: str) -> Account | None:
        """The account an API key belongs to (compared in constant time)."""
        for key, account in self._accounts_by_key.items():
            if hmac.compare_digest(key, api_key):
                return account
        return None

    @property
    def api_key(self) -> str:
        return self.account.api_key

    @property
    def api_secret(self) -> str:
        return self.account.api_secret

    @property
    def matching(self) -> MatchingEngine:
        return self.engine

    @property
    def balances(self) -> dict[str, Decimal]:
        """The first account's free balance per asset."""
        return self.account.balances

    @property
    def taker_fee_bps(self) -> Decimal:
        return self.account.taker_fee_bps

    @property
    def maker_fee_bps(self) -> Decimal:
        return self.account.maker_fee_bps

    # ---------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> LocalExchange:
        if port_in_use(self.host, self.port):
            raise UserError(f"port {self.port} on {self.host} is already in use")
        app = web.Application(middlewares=[self._delay_middleware, self.api.errors_middleware])
        app.add_routes(
            [
                *self.api.routes(),
                web.post("/admin/mid", self._admin_mid),
                web.post("/admin/test/delay", self._admin_delay),
            ]
        )
        if self.venue == "binance":
            app.add_routes(self.streams.routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        return self

    async def stop(self) -> None:
        await self.stop_noise()
        await self.streams.close_all()
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

    def market(self, symbol: str) -> MarketState:
        """State of a symbol, by unified ("ETH/USDT") or exchange ("ETHUSDT") name."""
        key = symbol.replace("/", "")
        if key not in self.markets:
            raise UserError(f"local exchange has no market {symbol}")
        return self.markets[key]

    def set_mid(self, symbol: str, price: Decimal | int | str) -> None:
        """Move a symbol's mid; the market maker re-quotes around it (its consumed quotes come back), and
        resting orders its new quotes cross are filled."""
        market = self.market(symbol)
        mid = Decimal(price)
        if mid <= 0:
            raise UserError(f"mid price must be positive, got {price}")
        market.mid = mid
        market.history.record(now_ms(), mid)
        self.engine.refresh_liquidity(market, self.rng)
        market.high = max(market.high, mid)
        market.low = min(market.low, mid)

    def load_history(self, symbol: str, closes: Sequence[Decimal], interval_ms: int) -> None:
        """Print `closes` as the closed candles just before now, one per `interval_ms` (the devnet's way to
        give a chart a past: a strategy reading candles has its history at start), then move the mid to
        the last one."""
        market = self.market(symbol)
        now = now_ms()
        start = now - now % interval_ms - len(closes) * interval_ms
        history = PriceHistory()
        for i, close in enumerate(closes):
            history.record(start + i * interval_ms, Decimal(close))
        market.history = history
        self.set_mid(symbol, closes[-1])

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
        return depth_snapshot(self.market(symbol), now_ms(), limit)

    # ---------------------------------------------------------------- test hook: slow answers

    def delay_responses(self, method: str, path: str, seconds: float, count: int = 1) -> None:
        """Test-only: serve the next `count` METHOD `path` requests, then hold each answer `seconds`."""
        self._delays.append(_Delay(method.upper(), path, float(seconds), int(count)))

    @web.middleware
    async def _delay_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        response = await handler(request)
        for rule in self._delays:
            if rule.left > 0 and rule.method == request.method and rule.path == request.path:
                rule.left -= 1
                await asyncio.sleep(rule.seconds)
                break
        return response

    async def _admin_delay(self, request: web.Request) -> web.Response:
        if not _is_loopback(request.remote):
            raise ApiError(-2015, "The admin endpoint answers local clients only.", status=403)
        try:
            body = await request.json()
            self.delay_responses(
                str(body["method"]), str(body["path"]), body["seconds"], body.get("count", 1)
            )
        except (ValueError, KeyError, TypeError):
            raise ApiError(-1100, 'Body must be JSON: {"method", "path", "seconds", "count"}.') from None
        return web.json_response({"delays": len(self._delays)})

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
        bid, _, ask, _ = top_of_book(market)
        return web.json_response(
            {"symbol": market.spec.symbol, "mid": fmt(market.mid), "bid": fmt(bid), "ask": fmt(ask)}
        )


@dataclass
class _Delay:
    method: str
    path: str
    seconds: float
    left: int


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
