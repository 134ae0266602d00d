"""The GMX side of the Arbitrum devnet as one service: the keeper polling the chain, and the oracle-keeper
HTTP routes (plus `POST /admin/prices`, the devnet's own route to move a price) on one port.

Threads, not a process: `devnet keeper` runs it in the foreground, `devnet up --chain arbitrum` as its child
process, and tests and the demo in-process.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from aiohttp import web
from web3 import HTTPProvider, Web3

from defibots.devnet.gmx_keeper import GmxKeeper, KeeperStats
from defibots.devnet.gmx_oracle import GmxOracle, oracle_app
from defibots.devnet.gmx_standin import deployment
from defibots.foundry.anvil import free_port


@dataclass(frozen=True)
class GmxServiceConfig:
    rpc_url: str
    host: str = "127.0.0.1"
    port: int | None = None
    delay_seconds: float = 0.0
    """How old an order must be before the keeper executes it (real keepers: a block or two)."""
    poll_seconds: float = 0.2
    spread_bps: Decimal = Decimal(2)
    exchange_url: str | None = None
    """A local exchange (Binance API) whose mids the oracle follows each round, as GMX's oracle follows
    the exchanges; None: prices move only through POST /admin/prices (or `oracle.set_usd`)."""
    follow: tuple[tuple[str, str], ...] = (("WETH", "ETHUSDT"), ("WBTC", "BTCUSDT"))
    """(oracle token, exchange symbol) pairs followed when `exchange_url` is set."""


def admin_routes(app: web.Application, oracle: GmxOracle) -> None:
    """`POST /admin/prices {"symbol": "WETH", "usd": "3100.5"}`: the devnet moves a price (not GMX's)."""

    async def set_price(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            symbol, usd = str(body["symbol"]), Decimal(str(body["usd"]))
            oracle.token(symbol)
        except (ValueError, KeyError, TypeError, InvalidOperation):
            return web.json_response({"error": "want {symbol: a known token, usd: a price}"}, status=400)
        if not usd > 0:
            return web.json_response({"error": "usd must be positive"}, status=400)
        oracle.set_usd(symbol, usd)
        return web.json_response({"symbol": symbol, "usd": str(oracle.usd(symbol))})

    app.router.add_post("/admin/prices", set_price)


class GmxService:
    """Keeper loop plus HTTP server, each on its own thread; `stop()` joins both."""

    def __init__(self, config: GmxServiceConfig) -> None:
        self.config = config
        d = deployment()
        self.w3 = Web3(HTTPProvider(config.rpc_url, request_kwargs={"timeout": 30}))
        self.oracle = GmxOracle(d.markets, d.oracle_provider, config.spread_bps)
        self.keeper = GmxKeeper(self.w3, d, self.oracle, config.delay_seconds)
        self.port = config.port or free_port()
        self.url = f"http://{config.host}:{self.port}"
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._threads: list[threading.Thread] = []
        self._followed: dict[str, Decimal] = {}

    def start(self) -> GmxService:
        app = oracle_app(self.oracle)
        admin_routes(app, self.oracle)
        ready = threading.Event()
        self._threads = [
            threading.Thread(target=self._serve, args=(app, ready), name="gmx-oracle", daemon=True),
            threading.Thread(target=self._keep, name="gmx-keeper", daemon=True),
        ]
        self._threads[0].start()
        ready.wait(10)
        self._threads[1].start()
        return self

    def step(self) -> KeeperStats:
        """One keeper round now (tests and the demo call it to avoid waiting for the poll)."""
        with self._lock:
            if self.config.exchange_url is not None:
                self.follow_exchange(self.config.exchange_url)
            return self.keeper.step()

    def follow_exchange(self, url: str) -> None:
        """Sets each followed token to its exchange symbol's mid (best bid and ask) when it has moved."""
        for token, symbol in self.config.follow:
            with urllib.request.urlopen(f"{url}/api/v3/ticker/bookTicker?symbol={symbol}", timeout=5) as r:
                top = json.loads(r.read())
            mid = (Decimal(top["bidPrice"]) + Decimal(top["askPrice"])) / 2
            if mid > 0 and mid != self._followed.get(token):
                self.oracle.set_usd(token, mid)
                self._followed[token] = mid

    def stop(self) -> None:
        self._stop.set()
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        for t in self._threads:
            t.join(10)

    def _serve(self, app: web.Application, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.config.host, self.port)
        self._loop.run_until_complete(site.start())
        ready.set()
        self._loop.run_forever()

    def _keep(self) -> None:
        while not self._stop.wait(self.config.poll_seconds):
            try:
                self.step()
            except Exception as exc:  # a failed round is reported and retried, never the end of the keeper
                self.errors.append(f"{type(exc).__name__}: {exc}")


@contextmanager
def gmx_service(config: GmxServiceConfig) -> Iterator[GmxService]:
    service = GmxService(config).start()
    try:
        yield service
    finally:
        service.stop()
