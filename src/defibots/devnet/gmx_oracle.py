"""The local GMX oracle: the prices the devnet keeper executes at, and the oracle-keeper HTTP routes GMX's
SDKs read (`/prices/tickers`, `/signed_prices/latest`, `/tokens`, `/markets`, `/markets/info`), serving the
same numbers, so what a client quotes from the routes is what its order fills at.

GMX quotes a token's price as min and max per smallest unit x 1e30 (a bid and an ask); here both are the
mid minus and plus half of `spread_bps`. USD per whole token in, per unit out: usd x 10^(30 - decimals).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web
from eth_abi import encode
from eth_typing import ChecksumAddress

from defibots.devnet.gmx_markets import GmxMarketsConfig, GmxToken
from defibots.devnet.replica import USD_PRICE
from defibots.protocols.gmx_v2.precision import unit_price

SYNTHETIC_OF = {"BTC": "WBTC"}
"""A synthetic index token follows its wrapped token's price."""


@dataclass(frozen=True)
class OraclePrice:
    token: GmxToken
    min: int
    max: int
    updated_at: float
    """Wall-clock seconds of the last change."""


class GmxOracle:
    """Per-token prices, set by the devnet (a price driver, a test, the demo) and read by the keeper."""

    def __init__(self, markets: GmxMarketsConfig, provider: str, spread_bps: Decimal = Decimal(0)) -> None:
        self.markets = markets
        self.provider = provider
        """The oracle provider the stand-in has enabled: the keeper names it for every price."""
        self.spread_bps = spread_bps
        self.tokens: dict[ChecksumAddress, GmxToken] = {}
        for m in markets.markets:
            for tok in (m.index, m.long, m.short):
                self.tokens[tok.address] = tok
        self._lock = threading.Lock()
        self._prices: dict[ChecksumAddress, OraclePrice] = {}
        for tok in self.tokens.values():
            self.set_usd(tok.symbol, Decimal(str(USD_PRICE[SYNTHETIC_OF.get(tok.symbol, tok.symbol)])))

    def token(self, symbol: str) -> GmxToken:
        for tok in self.tokens.values():
            if tok.symbol == symbol:
                return tok
        raise KeyError(symbol)

    def set_usd(self, symbol: str, usd: Decimal) -> None:
        """Moves `symbol` (and any synthetic index token that follows it) to `usd` per whole token."""
        half = usd * self.spread_bps / Decimal(20_000)
        now = time.time()
        with self._lock:
            for tok in self.tokens.values():
                if symbol in (tok.symbol, SYNTHETIC_OF.get(tok.symbol)):
                    low, high = unit_price(usd - half, tok.decimals), unit_price(usd + half, tok.decimals)
                    self._prices[tok.address] = OraclePrice(tok, low, high, now)

    def price(self, address: str) -> OraclePrice:
        with self._lock:
            return self._prices[address]  # type: ignore[index]

    def usd(self, symbol: str) -> Decimal:
        """The mid, USD per whole token."""
        p = self.price(self.token(symbol).address)
        mid: Decimal = Decimal(p.min + p.max) / 2 / 10 ** (30 - p.token.decimals)
        return mid

    def prices(self) -> list[OraclePrice]:
        with self._lock:
            return list(self._prices.values())

    def set_prices_params(self, addresses: Iterable[str]) -> tuple[list[str], list[str], list[bytes]]:
        """OracleUtils.SetPricesParams for the stand-in: (tokens, providers, data = abi (min, max))."""
        tokens = list(dict.fromkeys(addresses))
        data = [encode(["uint256", "uint256"], [self.price(t).min, self.price(t).max]) for t in tokens]
        return tokens, [self.provider] * len(tokens), data


# --- the oracle-keeper HTTP routes ---------------------------------------------------------------------


def _token_fields(p: OraclePrice) -> dict[str, Any]:
    return {
        "tokenAddress": p.token.address,
        "tokenSymbol": p.token.symbol,
        "oracleDecimals": 30 - p.token.decimals,
        "updatedAt": int(p.updated_at * 1000),
    }


def _ticker(p: OraclePrice) -> dict[str, Any]:
    return {
        **_token_fields(p),
        "minPrice": str(p.min),
        "maxPrice": str(p.max),
        "timestamp": int(p.updated_at),
    }


def _signed(p: OraclePrice) -> dict[str, Any]:
    """One `/signed_prices/latest` entry. The stand-in verifies no signature: the fields clients read only."""
    return {**_token_fields(p), "minPriceFull": str(p.min), "maxPriceFull": str(p.max), "signer": None,
            "signature": None}  # fmt: skip


MarketStats = Mapping[str, Mapping[str, Any]]
"""Per market token, the live figures `/markets/info` adds (open interest and pools, read from chain)."""


def oracle_app(oracle: GmxOracle, stats: Any = None) -> web.Application:
    """The routes. `stats`, if given, is a callable returning `MarketStats` for `/markets/info`."""
    markets = oracle.markets.markets

    async def tickers(_request: web.Request) -> web.Response:
        return web.json_response([_ticker(p) for p in oracle.prices()])

    async def signed(_request: web.Request) -> web.Response:
        return web.json_response({"signedPrices": [_signed(p) for p in oracle.prices()]})

    async def tokens(_request: web.Request) -> web.Response:
        rows = [
            {
                "symbol": t.symbol,
                "address": t.address,
                "decimals": t.decimals,
                "synthetic": t.symbol in SYNTHETIC_OF,
            }
            for t in oracle.tokens.values()
        ]
        return web.json_response({"tokens": rows})

    def _market(m: Any) -> dict[str, Any]:
        return {
            "marketToken": m.market_token,
            "indexToken": m.index.address,
            "longToken": m.long.address,
            "shortToken": m.short.address,
            "isListed": True,
        }

    async def market_list(_request: web.Request) -> web.Response:
        return web.json_response({"markets": [_market(m) for m in markets]})

    async def market_info(_request: web.Request) -> web.Response:
        live: MarketStats = stats() if stats is not None else {}
        rows = [{"name": m.label, **_market(m), **live.get(m.market_token, {})} for m in markets]
        return web.json_response({"markets": rows})

    app = web.Application()
    app.router.add_get("/prices/tickers", tickers)
    app.router.add_get("/signed_prices/latest", signed)
    app.router.add_get("/tokens", tokens)
    app.router.add_get("/markets", market_list)
    app.router.add_get("/markets/info", market_info)
    return app
