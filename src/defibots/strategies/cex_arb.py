"""AMM-CEX arbitrage signals: the executable AMM price for a size against the CEX book, in both directions.

Pure: it reads the shared pool models and the latest order books and returns `CexSignal` actions; an
executor journals them (the CEX order leg comes later). For each size and each pool pairing the symbol's
base with one of its quote tokens it prices two round trips, each ending flat in the base asset:

- sell_amm_buy_cex: sell `size` base into the pool (exact-in model, pool fee included), buy it back on
  the CEX: the taker fee is charged in the base received, so the order is grossed up to net `size`.
- buy_amm_sell_cex: buy exactly `size` base from the pool (exact-out model), sell it on the CEX: the
  taker fee is charged in the quote received.

Net = quote received - quote paid - gas (base fee + priority fee, times the swap's gas estimate, priced in
quote at the CEX mid). AMM amounts are exact ints; CEX amounts are exact Decimals from the book,
converted to quote units rounding against us (costs up, proceeds down). Edge is net over the AMM leg's
notional, in bps. Floats appear nowhere here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import ClassVar, Literal

from defibots.actions import HOP_GAS, TX_BASE_GAS
from defibots.cex.book import BPS, Depth, to_units, walk
from defibots.cex.events import BookTop
from defibots.chain.addresses import TOKENS
from defibots.chain.events import NewBlock
from defibots.engine import Action, Capability, Strategy
from defibots.errors import UserError
from defibots.events import Event
from defibots.protocols.uniswap_quote import buy_exact, quote
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.protocols.uniswap_v3 import UniswapV3Pool, v3_price
from defibots.state.store import MarketState
from defibots.state.uniswap import PoolModel, PoolsUpdated, UniswapPools, uniswap

Direction = Literal["sell_amm_buy_cex", "buy_amm_sell_cex"]
DIRECTIONS: tuple[Direction, ...] = ("sell_amm_buy_cex", "buy_amm_sell_cex")


@dataclass(frozen=True)
class CexToken:
    address: str
    symbol: str
    decimals: int


@dataclass(frozen=True)
class CexMarket:
    """One CEX symbol and the on-chain tokens it is compared with.

    `quotes` holds the symbol's quote token first, then any token the user chose to treat as equal to it
    1:1 (USDC for a USDT market); the edge then carries that peg risk, which is why it is opt-in.
    """

    symbol: str  # "ETH/USDT"
    base: CexToken  # WETH for ETH
    quotes: tuple[CexToken, ...]
    base_is_native: bool = True  # the base is the wrapped gas token: gas is priced at this symbol's mid


@dataclass(frozen=True)
class CexArbParams:
    markets: tuple[CexMarket, ...]
    sizes: tuple[Decimal, ...] = (Decimal(1), Decimal(5), Decimal(20))  # in base (ETH), not units
    taker_fee_bps: Decimal = Decimal(10)
    min_edge_bps: Decimal = Decimal(5)
    base_fee: int = 0
    priority_fee: int = 1_000_000_000
    gas_override: int | None = None  # gas per trade; default the executor's estimate for one hop


@dataclass(kw_only=True)
class CexSignal(Action):
    """An AMM-CEX round trip worth doing at this block and book (journaled; no CEX order yet)."""

    capability: ClassVar[Capability] = Capability.RECORD

    venue: str
    symbol: str
    direction: Direction
    pool: str
    protocol: str  # "v2" | "v3"
    pool_fee: int  # V3 fee tier, 3000 for V2
    base: CexToken
    quote: CexToken
    size: int  # base units traded on both legs (net of the CEX fee)
    amm_quote: int  # quote units received (sell_amm) or paid (buy_amm) on the AMM
    cex_quote: int  # quote units paid (buy_cex) or received (sell_cex) on the CEX, fee included
    gas: int
    gas_cost_wei: int
    gas_cost_quote: int
    net_profit: int  # quote units
    edge_bps: Decimal
    bid: Decimal
    ask: Decimal
    block_number: int
    book_timestamp_ms: int

    @property
    def gross_profit(self) -> int:
        if self.direction == "sell_amm_buy_cex":
            return self.amm_quote - self.cex_quote
        return self.cex_quote - self.amm_quote

    @property
    def amm_price(self) -> Decimal:
        """Quote per base paid or received on the AMM, in whole tokens."""
        return _price(self.amm_quote, self.size, self.quote.decimals, self.base.decimals)

    @property
    def cex_price(self) -> Decimal:
        """Quote per base paid or received on the CEX all-in (taker fee included), in whole tokens."""
        return _price(self.cex_quote, self.size, self.quote.decimals, self.base.decimals)


def _price(quote_units: int, base_units: int, quote_decimals: int, base_decimals: int) -> Decimal:
    return Decimal(quote_units).scaleb(-quote_decimals) / Decimal(base_units).scaleb(-base_decimals)


def pool_mid_price(pool: PoolModel, base: CexToken, quote_token: CexToken) -> Decimal:
    """The pool's marginal price (no fee) in whole quote tokens per whole base token."""
    base_is_token0 = pool.token0.lower() == base.address.lower()
    if isinstance(pool, UniswapV3Pool):
        return v3_price(pool.sqrt_price_x96, base_is_token0, base.decimals, quote_token.decimals)
    r_base, r_quote = (pool.reserve0, pool.reserve1) if base_is_token0 else (pool.reserve1, pool.reserve0)
    if r_base == 0:
        raise ValueError(f"pair {pool.address} is empty")
    return (Decimal(r_quote) / Decimal(r_base)).scaleb(base.decimals - quote_token.decimals)


def _gross_up(size: Decimal, taker_fee_bps: Decimal) -> Decimal:
    """The base quantity to buy so that `size` is left after a fee charged in base."""
    return size / (1 - taker_fee_bps / BPS)


@dataclass
class CexArbStats:
    evaluations: int = 0
    signals: int = 0
    no_depth: int = 0  # a size the visible book could not fill


@dataclass
class Candidate:
    direction: Direction
    pool: PoolModel
    quote: CexToken
    size: int
    amm_quote: int
    cex_quote: int
    gas: int
    gas_cost_wei: int
    gas_cost_quote: int
    net_profit: int
    edge_bps: Decimal


class CexPricer:
    """Prices every (pool, size, direction) of a market against one book; the pure core of the strategy."""

    def __init__(self, params: CexArbParams) -> None:
        self.params = params
        self.stats = CexArbStats()

    def gas_for(self, pool: PoolModel) -> int:
        if self.params.gas_override is not None:
            return self.params.gas_override
        return TX_BASE_GAS + HOP_GAS["v2" if isinstance(pool, UniswapV2Pair) else "v3"]

    def candidates(
        self, market: CexMarket, pools: Iterable[PoolModel], depth: Depth, native_price: Decimal
    ) -> list[Candidate]:
        """Every fillable round trip; `native_price` is the gas token's price in the market's quote."""
        p = self.params
        out: list[Candidate] = []
        gas_price = p.base_fee + p.priority_fee
        for pool in pools:
            quote_token = next(q for q in market.quotes if q.address.lower() in _tokens(pool))
            gas = self.gas_for(pool)
            gas_wei = gas * gas_price
            gas_quote = to_units(Decimal(gas_wei).scaleb(-18) * native_price, quote_token.decimals, ROUND_UP)
            for size in p.sizes:
                units = to_units(size, market.base.decimals)
                if units <= 0:
                    continue
                # sell on the AMM, buy back on the CEX
                received = quote(pool, market.base.address, units)
                if received > 0:
                    fill = walk(depth, "buy", _gross_up(size, p.taker_fee_bps), taker_fee_bps=p.taker_fee_bps)
                    if fill.complete:
                        paid = to_units(fill.net_quote, quote_token.decimals, ROUND_UP)
                        out.append(
                            self._candidate("sell_amm_buy_cex", pool, quote_token, units, received, paid,
                                            received - paid, gas, gas_wei, gas_quote)
                        )  # fmt: skip
                    else:
                        self.stats.no_depth += 1
                # buy on the AMM, sell on the CEX
                paid_amm = buy_exact(pool, quote_token.address, units)
                if paid_amm > 0:
                    fill = walk(depth, "sell", size, taker_fee_bps=p.taker_fee_bps)
                    if fill.complete:
                        got = to_units(fill.net_quote, quote_token.decimals, ROUND_DOWN)
                        out.append(
                            self._candidate("buy_amm_sell_cex", pool, quote_token, units, paid_amm, got,
                                            got - paid_amm, gas, gas_wei, gas_quote)
                        )  # fmt: skip
                    else:
                        self.stats.no_depth += 1
        return out

    @staticmethod
    def _candidate(
        direction: Direction,
        pool: PoolModel,
        quote_token: CexToken,
        size: int,
        amm_quote: int,
        cex_quote: int,
        gross: int,
        gas: int,
        gas_wei: int,
        gas_quote: int,
    ) -> Candidate:
        net = gross - gas_quote
        edge = (Decimal(net) * BPS / Decimal(amm_quote)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        return Candidate(direction, pool, quote_token, size, amm_quote, cex_quote, gas, gas_wei, gas_quote,
                          net, edge)  # fmt: skip


def _tokens(pool: PoolModel) -> tuple[str, str]:
    return pool.token0.lower(), pool.token1.lower()


CEX_ASSET_TOKENS = {"ETH": "WETH", "BTC": "WBTC"}
"""CEX asset -> the on-chain token it is compared with (same symbol when not listed)."""
USD_PEGGED = ("USDT", "USDC")
NATIVE = "WETH"


def cex_token(asset: str) -> CexToken:
    """The on-chain token a CEX asset is compared with; an asset with none is a config error."""
    symbol = CEX_ASSET_TOKENS.get(asset.upper(), asset.upper())
    if symbol not in TOKENS:
        raise UserError(
            f"CEX asset {asset} has no on-chain token to compare with (known: {', '.join(TOKENS)})"
        )
    t = TOKENS[symbol]
    return CexToken(t.address, t.symbol, t.decimals)


def markets_for(symbols: Iterable[str], usd_pegged_equal: bool) -> tuple[CexMarket, ...]:
    """`BASE/QUOTE` symbols as markets; `usd_pegged_equal` adds USDC pools to a USDT market (and back)."""
    markets = []
    for symbol in symbols:
        base, _, quote_asset = symbol.partition("/")
        if not base or not quote_asset:
            raise UserError(f"CEX symbol {symbol!r} must look like BASE/QUOTE")
        quotes = [cex_token(quote_asset)]
        if usd_pegged_equal and quotes[0].symbol in USD_PEGGED:
            quotes += [cex_token(s) for s in USD_PEGGED if s != quotes[0].symbol]
        base_token = cex_token(base)
        markets.append(
            CexMarket(symbol, base_token, tuple(quotes), base_is_native=base_token.symbol == NATIVE)
        )
    return tuple(markets)


def market_pools(pools: UniswapPools, market: CexMarket) -> list[str]:
    """Addresses of the tracked pools pairing the market's base with one of its quote tokens."""
    base = market.base.address.lower()
    quotes = {q.address.lower() for q in market.quotes}
    return [
        address
        for address, pool in pools.pools.items()
        if base in _tokens(pool) and (set(_tokens(pool)) - {base}) & quotes
    ]


class BookAndPoolsStrategy(Strategy):
    """What both AMM-CEX strategies share: re-price a market on its book's changes and on its pools'
    changes (`evaluate`), gas priced at the latest base fee."""

    def __init__(self, market: MarketState, params: CexArbParams) -> None:
        self.uniswap = uniswap(market)
        self.pricer = CexPricer(params)
        self.markets = {m.symbol: m for m in params.markets}
        self.pools_by_market = {m.symbol: market_pools(self.uniswap, m) for m in params.markets}
        self.books: dict[str, BookTop] = {}
        self.last_block = 0

    def evaluate(self, symbol: str) -> Sequence[Action]:
        raise NotImplementedError

    async def process_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, NewBlock):
            self.last_block = max(self.last_block, event.number)
            if event.base_fee_per_gas is not None:
                self.pricer.params = replace(self.pricer.params, base_fee=event.base_fee_per_gas)
            return ()
        if isinstance(event, BookTop):
            if event.symbol not in self.markets or event.depth is None:
                return ()
            self.books[event.symbol] = event
            return self.evaluate(event.symbol)
        if isinstance(event, PoolsUpdated):
            self.last_block = max(self.last_block, event.block_number)
            changed = {a.lower() for a in event.pools}
            actions: list[Action] = []
            for symbol, pools in self.pools_by_market.items():
                if symbol in self.books and changed & {a.lower() for a in pools}:
                    actions.extend(self.evaluate(symbol))
            return actions
        return ()


class CexArbStrategy(BookAndPoolsStrategy):
    """Emits the best round trip per direction when its edge clears `min_edge_bps`, once per distinct
    (pool, size, profit)."""

    def __init__(self, market: MarketState, params: CexArbParams) -> None:
        super().__init__(market, params)
        self.best: dict[tuple[str, Direction], CexSignal] = {}
        """The latest best round trip per (symbol, direction), above the threshold or not (live view)."""
        self._emitted: dict[tuple[str, Direction], tuple[str, int, int]] = {}

    @property
    def name(self) -> str:
        return "cex_arb"

    @property
    def params(self) -> CexArbParams:
        return self.pricer.params

    @property
    def stats(self) -> CexArbStats:
        return self.pricer.stats

    def native_price(self, market: CexMarket) -> Decimal | None:
        """The gas token's price in this market's quote: its own mid, or a native market's with the same
        quote; None when no book gives it (then no signal: gas could not be priced)."""
        if market.base_is_native:
            return self.books[market.symbol].mid
        for other in self.markets.values():
            top = self.books.get(other.symbol)
            if other.base_is_native and top is not None and other.quotes[0] == market.quotes[0]:
                return top.mid
        return None

    def evaluate(self, symbol: str) -> list[CexSignal]:
        market = self.markets[symbol]
        top = self.books[symbol]
        native = self.native_price(market)
        pools = [p for a in self.pools_by_market[symbol] if (p := self.uniswap.get(a)) is not None]
        if top.depth is None or native is None or not pools:
            return []
        self.stats.evaluations += 1
        best: dict[Direction, Candidate] = {}
        for c in self.pricer.candidates(market, pools, top.depth, native):
            current = best.get(c.direction)
            if current is None or c.net_profit > current.net_profit:
                best[c.direction] = c
        signals: list[CexSignal] = []
        for direction, c in best.items():
            signal = self._signal(market, top, c)
            self.best[(symbol, direction)] = signal
            if c.edge_bps <= self.params.min_edge_bps or c.net_profit <= 0:
                continue
            key = (c.pool.address, c.size, c.net_profit)
            if self._emitted.get((symbol, direction)) == key:
                continue
            self._emitted[(symbol, direction)] = key
            self.stats.signals += 1
            signals.append(signal)
        return signals

    def _signal(self, market: CexMarket, top: BookTop, c: Candidate) -> CexSignal:
        pool = c.pool
        return CexSignal(
            venue=top.venue,
            symbol=market.symbol,
            direction=c.direction,
            pool=pool.address,
            protocol="v2" if isinstance(pool, UniswapV2Pair) else "v3",
            pool_fee=pool.fee if isinstance(pool, UniswapV3Pool) else 3000,
            base=market.base,
            quote=c.quote,
            size=c.size,
            amm_quote=c.amm_quote,
            cex_quote=c.cex_quote,
            gas=c.gas,
            gas_cost_wei=c.gas_cost_wei,
            gas_cost_quote=c.gas_cost_quote,
            net_profit=c.net_profit,
            edge_bps=c.edge_bps,
            bid=top.bid,
            ask=top.ask,
            block_number=max(self.last_block, pool.block_number),
            book_timestamp_ms=top.timestamp_ms,
        )
