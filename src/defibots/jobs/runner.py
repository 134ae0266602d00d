"""Any registered strategy on the live market: `defibots run NAME`.

The job opens the state the strategy's spec asks for ("uniswap": discover and load the pools among its
tokens, then keep them current with the chain listener and the pool-state collector), builds the strategy
from that state and its settings, and gives it one executor per capability its actions need:

- RECORD: `AlertJournal`, the journal's errors table (source `strategy:NAME`), in every mode;
- PUBLIC_TX: `PublicTxExecutor` through the executor contract; shadow mode simulates and never sends.

Everything a user can get wrong (state or a capability the job cannot provide, wrong chain id, no
executor contract, a refused websocket) is a UserError before the engine starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from defibots.chain.aave_account import AaveAccountPoller
from defibots.chain.addresses import address_book, token
from defibots.config import ArbSettings, GmxSettings
from defibots.engine import Action, Capability, Collector, Engine, Executor
from defibots.errors import UserError
from defibots.execution.loop_operator import LoopOperator
from defibots.execution.loop_rebalancer import LoopRebalancer
from defibots.jobs.arb_watch import check_websocket, journal_bad_log, open_market, pool_collector
from defibots.jobs.engine_job import EngineJob
from defibots.journal import ErrorRecord, Journal
from defibots.protocols.leverage_loop import MIN_TARGET_HF
from defibots.strategies.registry import Alert, AnySpec, StrategyContext

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from defibots.cex.feed import CexFeed
    from defibots.cex.orders import CexOrderExecutor
    from defibots.chain.listener import LogEvent

STATE_EVENTS: dict[str, tuple[str, ...]] = {
    "uniswap": ("NewBlock", "PoolsUpdated"),
    "aave_loop": ("AaveAccountRead",),
    "cex": ("BookTop",),
    "candles": ("CandlesClosed",),
}
"""The state this job can provide, and the events its sources put on the bus."""
JOB_CAPABILITIES = (
    Capability.RECORD,
    Capability.PUBLIC_TX,
    Capability.AAVE_LOOP,
    Capability.HEDGED_ARB,
    Capability.GMX_ORDER,
)
DEFAULT_TOKENS = tuple(ArbSettings().tokens)


@dataclass(frozen=True)
class JobConfig:
    rpc_url: str
    ws_url: str | None
    journal_path: Path
    shadow: bool = True
    expected_chain_id: int | None = None
    executor: str | None = None
    """The executor contract; only a strategy with PUBLIC_TX actions needs one."""
    ws_required: bool = True
    """A websocket the user named must answer at start; False lets the devnet's fall back to polling."""
    address_book: str | None = None
    """The chain's address book by name; None: the book of the chain id the RPC serves (an unknown id is
    a UserError, so a strategy never trades one chain's tokens at another chain's addresses)."""
    chain_name: str | None = None
    """The `[chains.NAME]` section this job runs (for the live view); None for a job built by hand."""
    ccxt_overrides: Mapping[str, Any] | None = None
    """Extra ccxt constructor settings for the strategy's venue (a local venue's URLs); never keys."""
    gmx: GmxSettings | None = None
    """`[gmx]` for a strategy with GMX orders (addresses, retry budget); None: the defaults."""
    gmx_oracle_url: str | None = None
    """GMX's oracle keeper for those orders' prices (the devnet's, or GMX's)."""


def check_spec(spec: AnySpec) -> None:
    """The state, events and executors the strategy needs are ones this job has; UserError otherwise."""
    for state in spec.state:
        if state not in STATE_EVENTS:
            raise UserError(
                f"strategy {spec.name} needs {state!r} state, which `defibots run` cannot provide yet "
                f"(has: {', '.join(STATE_EVENTS)})"
            )
    provided = {e for s in spec.state for e in STATE_EVENTS[s]}
    for event in spec.events:
        if event.__name__ not in provided:
            raise UserError(f"strategy {spec.name} needs {event.__name__} events, which its state has not")
    for capability in spec.executors:
        if capability not in JOB_CAPABILITIES:
            raise UserError(
                f"strategy {spec.name} needs a {capability.value} executor, which `defibots run` has not got "
                f"(has: {', '.join(c.value for c in JOB_CAPABILITIES)})"
            )


def spec_tokens(settings: BaseModel) -> tuple[str, ...]:
    """The symbols whose pools are tracked: the strategy's `tokens` setting, else the default five."""
    tokens = getattr(settings, "tokens", None) or DEFAULT_TOKENS
    return tuple(token(t).symbol for t in tokens)


@dataclass
class AlertStats:
    recorded: int = 0
    recent: list[str] = field(default_factory=list)


class AlertJournal(Executor):
    """Records every Alert in the journal's errors table (source `strategy:NAME`, kind = the alert's)."""

    capability: ClassVar[Capability] = Capability.RECORD

    def __init__(self, journal: Journal, chain_id: int) -> None:
        self.journal = journal
        self.chain_id = chain_id
        self.stats = AlertStats()

    @property
    def name(self) -> str:
        return "alerts"

    async def execute(self, action: Action) -> None:
        if not isinstance(action, Alert):
            raise TypeError(f"{type(action).__name__} is a RECORD action this journal does not know")
        self.journal.record_error(
            ErrorRecord(
                source=f"strategy:{action.strategy}", kind=action.kind, message=action.message,
                payload=json.dumps(dict(action.details), sort_keys=True), chain_id=self.chain_id,
                block_number=action.block_number,
            )
        )  # fmt: skip
        self.stats.recorded += 1
        self.stats.recent = [*self.stats.recent[-9:], action.message]


class StrategyJob(EngineJob):
    """One strategy, its state sources and executors, wired to an engine; `run()` it, then read `stats()`."""

    cex_orders: CexOrderExecutor | None = None
    _stream: asyncio.Future[None] | None = None

    def __init__(
        self, spec: AnySpec, settings: BaseModel, config: JobConfig, signer: LocalAccount | None = None
    ) -> None:
        check_spec(spec)
        self.spec, self.settings, self.config = spec, settings, config
        needs_tx = bool({Capability.PUBLIC_TX, Capability.HEDGED_ARB} & set(spec.executors))
        if needs_tx and (config.executor is None or signer is None):
            raise UserError(
                f"strategy {spec.name} sends through the executor contract: it needs one and a signer"
            )
        self.tokens = spec_tokens(settings)
        market = open_market(
            config.rpc_url, config.executor if needs_tx else None, self.tokens, config.expected_chain_id,
            book=lambda chain_id: address_book(chain_id, config.address_book),
        )  # fmt: skip
        self.chain_id, self.pool_refs = market.chain_id, market.pool_refs
        self.state, self.pools = market.state, market.pools
        self.book = address_book(self.chain_id, config.address_book)
        self.journal = Journal(config.journal_path)
        collector = pool_collector(market, config.ws_url, config.rpc_url, self._malformed)
        self.listener = collector.listener
        addresses = tuple(self.book.token(t).address for t in self.tokens)
        context = StrategyContext(self.chain_id, self.state, addresses)
        collectors: list[Collector] = [collector]
        self.loop: LoopOperator | None = None
        if "aave_loop" in spec.state:
            self.loop, settings = self._aave_loop(settings, signer)
            self.settings = settings
            pool = self.loop.client.market.pool
            collectors.append(
                AaveAccountPoller(config.rpc_url, self.chain_id, pool, self.loop.client.address)
            )
        self.cex_feed: CexFeed | None = None
        if "cex" in spec.state:
            self.cex_feed = self._cex_feed(settings)
            collectors.append(self.cex_feed)
        if "candles" in spec.state:
            collectors.append(self._candles(settings))
        self.strategy = spec.build(context, settings)
        self.executors: list[Executor] = []
        for capability in spec.executors:
            if capability is Capability.RECORD:
                self.executors.append(AlertJournal(self.journal, self.chain_id))
            elif capability is Capability.PUBLIC_TX:
                assert config.executor is not None and signer is not None  # checked above
                self.executors.append(self._public_tx(config.executor, signer))
            elif capability is Capability.AAVE_LOOP:
                assert self.loop is not None  # a strategy with loop steps reads the loop's account
                self.executors.append(self._rebalancer(self.loop, settings))
            elif capability is Capability.HEDGED_ARB:
                assert config.executor is not None and signer is not None  # checked above
                self.executors.append(self._hedged(config.executor, signer, settings))
            elif capability is Capability.GMX_ORDER:
                self.executors.append(self._gmx(signer))
        self.engine = Engine(collectors, [self.strategy], self.executors)
        self.started = time.monotonic()

    def _public_tx(self, executor: str, signer: LocalAccount) -> Executor:
        from web3 import HTTPProvider, Web3

        from defibots.execution.executor_client import ExecutorClient
        from defibots.execution.public_tx import PublicTxExecutor

        w3 = Web3(HTTPProvider(self.config.rpc_url, request_kwargs={"timeout": 30}))
        return PublicTxExecutor(
            ExecutorClient(w3, executor, signer), self.journal, self.chain_id, shadow=self.config.shadow,
            min_net_profit=int(getattr(self.settings, "min_profit_wei", 0)), rpc_url=self.config.rpc_url,
        )  # fmt: skip

    def _cex_feed(self, settings: BaseModel) -> CexFeed:
        from defibots.cex.feed import CexFeed

        s: Any = settings
        return CexFeed(s.exchange, tuple(s.symbols), s.url, poll_interval_s=s.poll_interval_s)

    def _gmx(self, signer: LocalAccount | None) -> Executor:
        from defibots.chain.gmx.deployment import DEFAULT_ORACLE_URL
        from defibots.execution.gmx_orders import GmxOrderExecutor
        from defibots.execution.gmx_trader import GmxTrader

        if signer is None:
            raise UserError(f"strategy {self.spec.name} sends GMX orders: it needs a signer")
        c = self.config
        trader = GmxTrader.from_settings(
            c.rpc_url, self.chain_id, c.gmx or GmxSettings(), c.gmx_oracle_url or DEFAULT_ORACLE_URL,
            c.journal_path, signer,
        )  # fmt: skip
        return GmxOrderExecutor(trader, shadow=c.shadow)

    def _candles(self, settings: BaseModel) -> Collector:
        """The strategy's `exchange`, `url`, `symbol`, `timeframe` candles, `candles_needed` per event."""
        from defibots.cex.candles import CandleFeed
        from defibots.cex.feed import make_exchange

        s: Any = settings
        client = make_exchange(s.exchange, url_override=s.url)
        return CandleFeed(client, s.exchange, s.symbol, s.timeframe, s.candles_needed, s.poll_interval_s)

    def _hedged(self, executor: str, signer: LocalAccount, settings: BaseModel) -> Executor:
        """Both legs: the executor contract for the swap, a ccxt.pro client with the user's keys (env vars
        or an encrypted file, never the config) for the IOC, the live pool state for unwinds."""
        import ccxt.pro as ccxtpro
        from web3 import HTTPProvider, Web3

        from defibots.cex.feed import SPOT_ONLY_OPTIONS
        from defibots.cex.orders import CexOrderExecutor
        from defibots.cex.secrets import load_credentials
        from defibots.execution.executor_client import ExecutorClient
        from defibots.execution.hedged_arb import HedgedArbExecutor
        from defibots.execution.inventory import InventoryBook, InventorySettings

        s: Any = settings
        file = Path(s.credentials_file) if s.credentials_file else None
        creds = load_credentials(
            key_env=None if file else s.api_key_env,
            secret_env=None if file else s.api_secret_env,
            file=file,
        )
        assert creds is not None  # either the file or both env vars were named
        config: dict[str, Any] = {
            "options": dict(SPOT_ONLY_OPTIONS.get(s.exchange, {})),
            "enableRateLimit": True,
        }
        config |= dict(self.config.ccxt_overrides or {})
        config |= {"apiKey": creds.api_key, "secret": creds.secret}
        client = getattr(ccxtpro, s.exchange)(config)
        orders = CexOrderExecutor(client, s.exchange, self.journal, strategy=self.spec.name)
        self.cex_orders = orders
        inventory = InventoryBook(InventorySettings.model_validate(s.inventory)) if s.inventory else None
        w3 = Web3(HTTPProvider(self.config.rpc_url, request_kwargs={"timeout": 30}))
        return HedgedArbExecutor(
            ExecutorClient(w3, executor, signer), orders, self.journal, self.chain_id, self.state, s.policy,
            rpc_url=self.config.rpc_url, shadow=self.config.shadow, lot_step=s.lot_step, inventory=inventory,
            strategy=self.spec.name,
        )  # fmt: skip

    def _aave_loop(self, settings: BaseModel, signer: LocalAccount | None) -> tuple[LoopOperator, BaseModel]:
        """The signer's loop (it owns or may rebalance it), and the settings naming its account."""
        if signer is None:
            raise UserError(f"strategy {self.spec.name} rebalances an Aave loop: it needs a signer")
        operator = LoopOperator(self.config.rpc_url, signer, self.config.journal_path, self.chain_id)
        if not operator.deployed:
            raise UserError(
                f"no Aave loop of {signer.address} on chain {self.chain_id}: "
                "open one with `defibots aave loop open`"
            )
        return operator, settings.model_copy(update={"account": operator.client.address})

    def _rebalancer(self, operator: LoopOperator, settings: BaseModel) -> Executor:
        target = Decimal(getattr(settings, "target_health_factor", "1.6"))
        band = Decimal(getattr(settings, "band", "0.1"))
        min_hf = max(MIN_TARGET_HF, target - 2 * band)
        slippage = int(getattr(settings, "max_slippage_bps", 30))
        return LoopRebalancer(operator, self.journal, self.config.shadow, slippage, min_hf)

    def _malformed(self, log: LogEvent) -> None:
        journal_bad_log(self.journal, self.chain_id, log)

    async def checks(self) -> None:
        """The start-up checks that need the event loop: a websocket the user named must answer, the
        venue has the symbols, the order client loads its markets and follows its private stream."""
        if self.config.ws_required:
            await check_websocket(self.config.ws_url)
        if self.cex_feed is not None:
            await self.cex_feed.open()
        if self.cex_orders is not None:
            await self.cex_orders.open()
            for ex in self.executors:
                seed = getattr(ex, "seed_inventory", None)
                if seed is not None:
                    await seed()
            self._stream = asyncio.ensure_future(self.cex_orders.run_stream())

    async def close(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stream
            self._stream = None
        await super().close()
        if self.cex_orders is not None:
            await self.cex_orders.close()
            self.cex_orders = None

    def rows(self) -> Sequence[Sequence[str]]:
        return self.spec.rows(self.strategy)

    def last_block(self) -> int:
        return self.state.head()

    def executor_summaries(self) -> list[str]:
        """One line per executor for the live view and the closing summary."""
        lines = []
        for ex in self.executors:
            stats: Any = getattr(ex, "stats", None)
            if isinstance(ex, AlertJournal):
                lines.append(f"alerts journaled {ex.stats.recorded}")
            elif stats is not None and hasattr(stats, "skipped"):  # GMX orders
                done = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_status.items())) or "none sent"
                lines.append(
                    f"GMX orders simulated {stats.simulated}, sent {stats.sent} ({done}), shadow "
                    f"{stats.shadow}, skipped {stats.skipped}, refused {stats.failed}"
                )
            elif stats is not None and hasattr(stats, "by_status"):  # hedged round trips
                trips = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_status.items())) or "none yet"
                flight = ", ".join(f"{k}: {v}" for k, v in stats.in_flight.items()) or "none"
                lines.append(f"round trips: {trips}; in flight: {flight}; alerts {len(stats.alerts)}")
                inventory = getattr(ex, "inventory", None)
                if inventory is not None:
                    held = inventory.balances()
                    lines.append(
                        "inventory " + ", ".join(f"{p}/{a} {v:,.4f}" for (p, a), v in sorted(held.items()))
                    )
            elif stats is not None and hasattr(stats, "simulated"):
                lines.append(f"simulated {stats.simulated}, sent {stats.sent}, stale {stats.stale}")
        return lines

    def recent(self) -> list[str]:
        lines: list[str] = []
        for ex in self.executors:
            recent = getattr(getattr(ex, "stats", None), "recent", None)
            if isinstance(recent, list):
                lines += [str(r) for r in recent[-3:]]
        return lines


async def run_jobs(
    jobs: Sequence[StrategyJob],
    duration_s: float | None = None,
    on_tick: Callable[[StrategyJob], None] | None = None,
) -> None:
    """Several jobs (one per chain) in one event loop: all open before any runs, and the first fatal error
    stops the others (TaskGroup cancels them), re-raised alone so a UserError stays one line. Every job is
    closed however the run ends."""
    try:
        for job in jobs:
            await job.open()
        async with asyncio.TaskGroup() as group:
            for job in jobs:
                group.create_task(job.run(duration_s, on_tick))
    except ExceptionGroup as errors:
        raise errors.exceptions[0] from None
    finally:
        for job in jobs:
            await job.close()
