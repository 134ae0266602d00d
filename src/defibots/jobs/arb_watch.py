"""The arbitrage watcher, wired: pool discovery and load -> chain listener -> pool models -> amm_arb ->
public-tx executor -> journal; optionally a CEX feed -> cex_arb -> signal journal. `defibots watch arb` and
`make demo` both run this.

Start-up checks a user can fail (unknown token, wrong chain id, no executor, a websocket that refuses, an
unknown CEX symbol) raise UserError before anything runs. While running, nothing bad from outside stops
the watcher: a dropped websocket is reconnected and backfilled by the listener, a malformed log is
counted and journaled (errors table), a CEX outage is retried by the feed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from defibots.actions import Opportunity
from defibots.chain.addresses import MAINNET_BOOK, AddressBook
from defibots.chain.async_rpc import RpcConnectionError, WsRpc
from defibots.chain.listener import ChainListener
from defibots.chain.pool_discovery import PoolRef, discover_pools
from defibots.chain.pool_loader import PoolReloader, load_pools
from defibots.chain.rpc import JsonRpc
from defibots.chain.state_collector import StateCollector
from defibots.engine import Action, Capability, Collector, Engine, Executor, Strategy
from defibots.errors import UserError
from defibots.execution.public_tx import PublicTxExecutor
from defibots.jobs.engine_job import EngineJob
from defibots.journal import CexSignal as CexSignalRecord
from defibots.journal import ErrorRecord, Journal
from defibots.state.store import MarketState
from defibots.state.uniswap import UniswapPools, pool_market, uniswap
from defibots.strategies.amm_arb import AmmArbStrategy, ArbParams
from defibots.strategies.cex_arb import (
    CexArbParams,
    CexArbStrategy,
    CexMarket,
    CexSignal,
    market_pools,
    markets_for,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from defibots.cex.feed import CexFeed
    from defibots.chain.listener import LogEvent


@dataclass(frozen=True)
class CexWatch:
    """The CEX side of the watcher: which venue and symbols, and when a price gap is worth a signal."""

    exchange: str = "binance"
    url: str | None = None  # override every API URL (the local exchange); None: the real venue
    symbols: tuple[str, ...] = ("ETH/USDT",)
    taker_fee_bps: int = 10
    min_edge_bps: Decimal = Decimal(5)
    sizes: tuple[Decimal, ...] = (Decimal(1), Decimal(5), Decimal(20))
    usd_pegged_equal: bool = False  # treat USDC and USDT as 1:1 (adds the other's pools to a market)
    poll_interval_s: float = 1.0


@dataclass(frozen=True)
class WatchConfig:
    rpc_url: str
    ws_url: str | None
    executor: str
    journal_path: Path
    tokens: tuple[str, ...]
    params: ArbParams
    expected_chain_id: int | None = None
    shadow: bool = True
    ws_required: bool = True
    """A websocket the user asked for must answer at start-up; False lets a refused one fall back to
    HTTP polling (the devnet's default endpoint, when no --ws was given)."""
    cex: CexWatch | None = None


def cex_markets(cex: CexWatch) -> tuple[CexMarket, ...]:
    return markets_for(cex.symbols, cex.usd_pegged_equal)


@dataclass
class CexSignalStats:
    signals: int = 0
    by_direction: dict[str, int] = field(default_factory=dict)
    best_edge_bps: Decimal | None = None
    recent: list[str] = field(default_factory=list)


class CexSignalJournal(Executor):
    """Records every CexSignal in the journal (cex_signals). The CEX order leg is a later executor."""

    capability: ClassVar[Capability] = Capability.RECORD

    def __init__(self, journal: Journal, chain_id: int) -> None:
        self.journal = journal
        self.chain_id = chain_id
        self.stats = CexSignalStats()

    @property
    def name(self) -> str:
        return "cex_signals"

    async def execute(self, action: Action) -> None:
        if not isinstance(action, CexSignal):  # counted as an executor error by the engine
            raise TypeError(f"{self.name} cannot carry out {type(action).__name__}")
        s = action
        self.journal.record_cex_signal(
            CexSignalRecord(
                chain_id=self.chain_id, block_number=s.block_number, venue=s.venue, symbol=s.symbol,
                bid=s.bid, ask=s.ask, dex_price=s.amm_price, edge_bps=s.edge_bps,
                details=signal_details(s),
            )
        )  # fmt: skip
        stats = self.stats
        stats.signals += 1
        stats.by_direction[s.direction] = stats.by_direction.get(s.direction, 0) + 1
        if stats.best_edge_bps is None or s.edge_bps > stats.best_edge_bps:
            stats.best_edge_bps = s.edge_bps
        stats.recent = [*stats.recent[-9:], describe_signal(s)]


def signal_details(s: CexSignal) -> dict[str, object]:
    """What the journal keeps beyond the cex_signals columns; ints as decimal strings (no 64-bit limit)."""
    return {
        "direction": s.direction,
        "pool": s.pool,
        "protocol": s.protocol,
        "pool_fee": s.pool_fee,
        "base": s.base.symbol,
        "quote": s.quote.symbol,
        "size": str(s.size),
        "amm_quote": str(s.amm_quote),
        "cex_quote": str(s.cex_quote),
        "cex_price": str(s.cex_price),
        "gas": s.gas,
        "gas_cost_wei": str(s.gas_cost_wei),
        "gas_cost_quote": str(s.gas_cost_quote),
        "net_profit": str(s.net_profit),
        "book_timestamp_ms": s.book_timestamp_ms,
    }


def describe_signal(s: CexSignal) -> str:
    size = Decimal(s.size).scaleb(-s.base.decimals).normalize()
    net = Decimal(s.net_profit).scaleb(-s.quote.decimals)
    amm = f"{s.protocol}-{s.pool_fee}" if s.protocol == "v3" else "v2"
    verb = "sell on AMM, buy on CEX" if s.direction == "sell_amm_buy_cex" else "buy on AMM, sell on CEX"
    return (
        f"block {s.block_number} {s.symbol}: {verb} {size:f} {s.base.symbol} via {amm} {s.pool[:8]} "
        f"AMM {s.amm_price:.2f} / CEX {s.cex_price:.2f}, net {net:.2f} {s.quote.symbol} ({s.edge_bps} bps)"
    )


def journal_bad_log(journal: Journal, chain_id: int, log: LogEvent) -> None:
    """A tracked log the pool models could not apply: kept with its raw data for inspection."""
    journal.record_error(
        ErrorRecord(source="chain", kind="bad_log", message=f"malformed log from {log.address}",
                    payload=log.data.hex(), chain_id=chain_id, block_number=log.block_number)
    )  # fmt: skip


@dataclass
class Market:
    """What every watcher starts from: a checked RPC, the executor's presence, and the loaded pools."""

    rpc: JsonRpc
    chain_id: int
    pool_refs: list[PoolRef]
    state: MarketState

    @property
    def pools(self) -> UniswapPools:
        return uniswap(self.state)


def open_market(
    rpc_url: str,
    executor: str | None,
    tokens: tuple[str, ...],
    expected_chain_id: int | None,
    book: Callable[[int], AddressBook] = lambda _chain_id: MAINNET_BOOK,
) -> Market:
    """Check chain id and executor (None: a job that sends nothing needs none), discover the pools among
    `tokens` in the served chain's address book (`book`: chain id -> book), load them; UserError otherwise."""
    rpc = JsonRpc(rpc_url)
    chain_id = int(rpc.call("eth_chainId"), 16)
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise UserError(f"RPC {rpc_url} serves chain {chain_id}, but the config expects {expected_chain_id}")
    chain_book = book(chain_id)
    addresses = [chain_book.token(t).address for t in tokens]
    if executor is not None and len(rpc.call("eth_getCode", executor, "latest")) <= 2:
        raise UserError(f"no executor contract at {executor} (run `defibots deploy executor`)")
    refs = discover_pools(rpc, addresses, v2_factory=chain_book.v2_factory, v3_factory=chain_book.v3_factory)
    if not refs:
        raise UserError(f"no Uniswap pools found among {', '.join(tokens)} on chain {chain_id}")
    return Market(rpc, chain_id, refs, pool_market(load_pools(rpc, refs).values()))


def pool_collector(
    market: Market, ws_url: str | None, rpc_url: str, on_malformed: Callable[[LogEvent], None]
) -> StateCollector:
    """The listener over the market's pools from the block after their load, feeding their models: every job
    that trades on the Uniswap state starts from this one wiring."""
    listener = ChainListener(
        ws_url, rpc_url, [r.address for r in market.pool_refs], [market.state.topics()],
        start_block=market.state.head() + 1,
    )  # fmt: skip
    loaders = {UniswapPools.name: PoolReloader(rpc_url, market.pool_refs)}
    return StateCollector(listener, market.state, market.chain_id, loaders, on_malformed)


async def check_websocket(url: str | None) -> None:
    """A websocket the user named must answer at start-up (one error line); later drops are reconnected."""
    if not url:
        return
    try:
        ws = await WsRpc.connect(url, timeout=5.0)
    except RpcConnectionError as exc:
        reason = str(exc).removeprefix(f"{url}: ")
        raise UserError(f"cannot connect to websocket {url}: {reason}") from None
    await ws.close()


class ArbWatcher(EngineJob):
    def __init__(self, config: WatchConfig, signer: LocalAccount) -> None:
        from web3 import HTTPProvider, Web3

        from defibots.execution.executor_client import ExecutorClient

        self.config = config
        markets = cex_markets(config.cex) if config.cex else ()
        market = open_market(config.rpc_url, config.executor, config.tokens, config.expected_chain_id)
        self.rpc, self.chain_id, self.pool_refs = market.rpc, market.chain_id, market.pool_refs
        self.state, self.pools = market.state, market.pools
        for cex_market in markets:
            if not market_pools(self.pools, cex_market):
                quotes = "/".join(q.symbol for q in cex_market.quotes)
                raise UserError(
                    f"CEX symbol {cex_market.symbol}: no tracked pool pairs {cex_market.base.symbol} "
                    f"with {quotes} "
                    f"(tokens: {', '.join(config.tokens)})"
                )
        self.journal = Journal(config.journal_path)
        self.collector = pool_collector(market, config.ws_url, config.rpc_url, self._malformed)
        self.listener = self.collector.listener
        self.strategy = AmmArbStrategy(self.state, config.params)
        w3 = Web3(HTTPProvider(config.rpc_url, request_kwargs={"timeout": 30}))
        client = ExecutorClient(w3, config.executor, signer)
        self.executor = PublicTxExecutor(
            client, self.journal, self.chain_id, shadow=config.shadow,
            min_net_profit=config.params.min_net_profit, rpc_url=config.rpc_url,
        )  # fmt: skip
        collectors: list[Collector] = [self.collector]
        strategies: list[Strategy] = [self.strategy]
        executors: list[Executor] = [self.executor]
        self.cex_feed: CexFeed | None = None
        self.cex_strategy: CexArbStrategy | None = None
        self.cex_journal: CexSignalJournal | None = None
        if config.cex is not None:
            from defibots.cex.feed import CexFeed

            cex = config.cex
            self.cex_feed = CexFeed(cex.exchange, cex.symbols, cex.url, poll_interval_s=cex.poll_interval_s)
            self.cex_strategy = CexArbStrategy(
                self.state,
                CexArbParams(
                    markets=markets, sizes=cex.sizes, taker_fee_bps=Decimal(cex.taker_fee_bps),
                    min_edge_bps=cex.min_edge_bps, priority_fee=config.params.priority_fee,
                ),
            )  # fmt: skip
            self.cex_journal = CexSignalJournal(self.journal, self.chain_id)
            collectors.append(self.cex_feed)
            strategies.append(self.cex_strategy)
            executors.append(self.cex_journal)
        self.engine = Engine(collectors, strategies, executors)
        self.started = time.monotonic()

    def _malformed(self, log: LogEvent) -> None:
        journal_bad_log(self.journal, self.chain_id, log)

    async def checks(self) -> None:
        """The start-up checks that need the event loop: the websocket answers, the CEX has the symbols."""
        if self.config.ws_required:
            await check_websocket(self.config.ws_url)
        if self.cex_feed is not None:
            await self.cex_feed.open()

    def best(self, n: int = 5) -> list[Opportunity]:
        return self.strategy.ranked[:n]

    def best_cex(self) -> Sequence[CexSignal]:
        """The latest best round trip per symbol and direction, profitable or not (for the live view)."""
        return list(self.cex_strategy.best.values()) if self.cex_strategy else []

    @property
    def cex_signals(self) -> int:
        return self.cex_journal.stats.signals if self.cex_journal else 0

    def last_block(self) -> int:
        return self.strategy.last_block
