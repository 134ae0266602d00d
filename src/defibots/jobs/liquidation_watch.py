"""The liquidation watcher, wired: Uniswap pools + every Aave holder loaded into one store -> chain listener
(blocks; pool, Pool, token and feed logs) + mempool watcher (pending feed updates) -> liquidation strategy ->
liquidation executor -> relays -> journal. `defibots watch liquidations` runs this.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from defibots.chain.aave_addresses import aave_v3_ethereum
from defibots.chain.aave_loader import aave_part_loader, discover_holders, load_aave
from defibots.chain.calldata_decoder import DecodeError
from defibots.chain.listener import ChainListener
from defibots.chain.mempool import MempoolWatcher
from defibots.chain.pool_loader import PoolReloader
from defibots.chain.price_updates import DecodedUpdate, PriceUpdateDecoder, update_event
from defibots.chain.state_collector import StateCollector
from defibots.engine import Collector, Engine
from defibots.errors import UserError
from defibots.events import Event
from defibots.execution.liquidation_bundles import LiquidationExecutor
from defibots.execution.relay_client import RelayClient, RelayFanout
from defibots.execution.simulation import AnvilSimulator, BundleSimulator, SimulateV1Simulator
from defibots.jobs.arb_watch import journal_bad_log, open_market
from defibots.jobs.engine_job import EngineJob
from defibots.journal import ErrorRecord, Journal
from defibots.state.aave import AaveReserve, AaveV3Market
from defibots.state.store import MarketState, PartLoader
from defibots.state.uniswap import UniswapPools, uniswap
from defibots.strategies.backrun import Head
from defibots.strategies.liquidations import LiquidationParams, LiquidationStrategy

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from defibots.chain.listener import LogEvent

TOKENS = ("WETH", "USDC", "USDT", "DAI", "WBTC")
"""The pools the seized collateral is sold in: pairs among the reserves' assets."""


class PendingUpdateCollector(Collector):
    """Pending feed updates from the mempool as bus events (one per transaction)."""

    def __init__(self, watcher: MempoolWatcher[DecodedUpdate], chain_id: int) -> None:
        self.watcher = watcher
        self.chain_id = chain_id

    @property
    def name(self) -> str:
        return "price_updates"

    async def events(self) -> AsyncIterator[Event]:
        async with aclosing(self.watcher.swaps()) as updates:
            async for update in updates:
                yield update_event(update, self.chain_id)


@dataclass(frozen=True)
class LiquidationWatchConfig:
    rpc_url: str
    ws_url: str | None
    liquidator: str
    journal_path: Path
    relay_urls: tuple[str, ...]
    params: LiquidationParams
    shadow: bool = True
    expected_chain_id: int | None = None
    first_block: int = 0
    """Where borrower discovery starts (the market's deployment block on a real chain)."""
    simulation: Literal["node", "fork"] = "node"
    """Bundles are simulated by eth_simulateV1 on the RPC node ("node": one round trip) or mined on a
    private anvil fork of it ("fork": for RPCs without eth_simulateV1)."""


def simulator_for(rpc_url: str, kind: Literal["node", "fork"]) -> BundleSimulator:
    return SimulateV1Simulator(rpc_url) if kind == "node" else AnvilSimulator(rpc_url, fork=True)


class LiquidationWatcher(EngineJob):
    def __init__(
        self, config: LiquidationWatchConfig, signer: LocalAccount, relay_signer: LocalAccount
    ) -> None:
        if not config.relay_urls:
            raise UserError("liquidation bundles need at least one relay URL")
        self.config = config
        aave_book = aave_v3_ethereum()
        market = open_market(config.rpc_url, None, TOKENS, config.expected_chain_id)
        self.rpc, self.chain_id = market.rpc, market.chain_id
        if len(self.rpc.call("eth_getCode", config.liquidator, "latest")) <= 2:
            raise UserError(
                f"no Liquidator contract at {config.liquidator} (run `defibots deploy liquidator`)"
            )
        if len(self.rpc.call("eth_getCode", aave_book.pool, "latest")) <= 2:
            raise UserError(f"no Aave v3 Pool at {aave_book.pool} on chain {self.chain_id}")
        reserves = load_aave(self.rpc, aave_book.pool, aave_book.oracle)
        tokens = [
            t
            for e in reserves.entries.values()
            if isinstance(e, AaveReserve)
            for t in (e.a_token, e.debt_token)
        ]
        head = int(self.rpc.call("eth_blockNumber"), 16)
        users = discover_holders(self.rpc, tokens, config.first_block, head)
        snapshot = load_aave(self.rpc, aave_book.pool, aave_book.oracle, users, head)
        self.aave = AaveV3Market(aave_book.pool, snapshot.entries.items())
        pools = uniswap(market.state)
        self.state = MarketState([UniswapPools(pools.pools.values()), self.aave])
        block = self.rpc.call("eth_getBlockByNumber", hex(head), False)
        self.head = Head.of_rpc_block(block)
        self.aave.observe_block(head, self.head.timestamp)
        feeds = sorted({e.feed for e in self.aave.reserves().values()})
        addresses = [r.address for r in market.pool_refs] + [aave_book.pool, *tokens, *feeds]
        listener = ChainListener(
            config.ws_url, config.rpc_url, addresses, [self.state.topics()], start_block=head + 1
        )
        loaders: dict[str, PartLoader[Any]] = {
            UniswapPools.name: PoolReloader(config.rpc_url, market.pool_refs),
            AaveV3Market.name: aave_part_loader(
                config.rpc_url, aave_book.pool, aave_book.oracle, lambda: list(self.aave.accounts())
            ),
        }
        self.journal = Journal(config.journal_path)
        self.collector = StateCollector(listener, self.state, self.chain_id, loaders, self._malformed)
        self.mempool: MempoolWatcher[DecodedUpdate] = MempoolWatcher(
            config.ws_url, config.rpc_url, poll_interval=0.02, on_decode_error=self._bad_update,
            decoder=PriceUpdateDecoder(feeds),
        )  # fmt: skip
        self.strategy = LiquidationStrategy(self.state, config.params, self.head)
        relays = RelayFanout([RelayClient(url, relay_signer) for url in config.relay_urls])
        self.executor = LiquidationExecutor(
            config.liquidator,
            signer,
            config.rpc_url,
            relays,
            self.journal,
            self.chain_id,
            simulator=simulator_for(config.rpc_url, config.simulation),
            shadow=config.shadow,
        )
        self.engine = Engine(
            [self.collector, PendingUpdateCollector(self.mempool, self.chain_id)],
            [self.strategy],
            [self.executor],
        )

    async def checks(self) -> None:
        await self.executor.start()

    def _malformed(self, log: LogEvent) -> None:
        journal_bad_log(self.journal, self.chain_id, log)

    def _bad_update(self, tx: Mapping[str, Any], error: DecodeError) -> None:
        """A feed call that cannot publish a price: counted by the watcher, kept here, never acted on."""
        self.journal.record_error(
            ErrorRecord(source="mempool", kind="malformed_price_update", message=str(error),
                        payload=str(tx.get("input", ""))[:2_000], chain_id=self.chain_id)
        )  # fmt: skip

    def last_block(self) -> int:
        return self.strategy.head.number

    def summary(self) -> str:
        s, x = self.strategy.stats, self.executor.stats
        return (
            f"liquidations: found {s.liquidatable}, sent {x.sent}, included {x.included}, lost {x.lost}, "
            f"missed {x.not_included}, stale {x.stale}, bad updates "
            f"{self.mempool.stats.decode_errors + x.update_reverts}, profit ${x.profit_base / 1e8:,.2f}"
        )
