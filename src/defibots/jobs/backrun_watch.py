"""The backrun watcher, wired: pool discovery and load -> chain listener (blocks, pool logs) + mempool watcher
(pending router swaps) -> backrun strategy -> bundle executor -> relays -> journal.
`defibots watch backrun` runs this.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from defibots.chain.mempool import MempoolWatcher, bus_event
from defibots.chain.router_calls import DecodeError, PendingSwap
from defibots.engine import Collector, Engine, EngineStats
from defibots.errors import UserError
from defibots.events import Event
from defibots.execution.bundle_executor import BundleExecutor
from defibots.execution.relay_client import RelayClient, RelayFanout
from defibots.jobs.arb_watch import journal_bad_log, open_market, pool_collector
from defibots.journal import ErrorRecord, Journal
from defibots.strategies.amm_arb import ArbParams
from defibots.strategies.backrun import BackrunStrategy, Head

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from defibots.chain.listener import LogEvent


class PendingSwapCollector(Collector):
    """Pending router swaps from the mempool as bus events (one per transaction, with all its legs)."""

    def __init__(self, watcher: MempoolWatcher[PendingSwap], chain_id: int) -> None:
        self.watcher = watcher
        self.chain_id = chain_id

    @property
    def name(self) -> str:
        return "mempool"

    async def events(self) -> AsyncIterator[Event]:
        async with aclosing(self.watcher.swaps()) as swaps:
            async for swap in swaps:
                yield bus_event(swap, self.chain_id)


@dataclass(frozen=True)
class BackrunConfig:
    rpc_url: str
    ws_url: str | None
    executor: str
    journal_path: Path
    tokens: tuple[str, ...]
    params: ArbParams
    """Base token, hops, sizes; `builder_share_bps` is the builder's share, `priority_fee` our tip."""
    relay_urls: tuple[str, ...]
    blocks: int = 1
    expected_chain_id: int | None = None
    shadow: bool = True


class BackrunWatcher:
    def __init__(self, config: BackrunConfig, signer: LocalAccount, relay_signer: LocalAccount) -> None:
        from web3 import HTTPProvider, Web3

        from defibots.execution.executor_client import ExecutorClient

        if not config.relay_urls:
            raise UserError("a backrun needs at least one relay URL")
        self.config = config
        market = open_market(config.rpc_url, config.executor, config.tokens, config.expected_chain_id)
        self.rpc, self.chain_id, self.pool_refs = market.rpc, market.chain_id, market.pool_refs
        self.state, self.pools = market.state, market.pools
        loaded_at = market.state.head()
        block = self.rpc.call("eth_getBlockByNumber", hex(loaded_at), False)
        head = Head.of_rpc_block(block)
        self.journal = Journal(config.journal_path)
        self.pool_collector = pool_collector(market, config.ws_url, config.rpc_url, self._malformed)
        self.mempool: MempoolWatcher[PendingSwap] = MempoolWatcher(
            config.ws_url,
            config.rpc_url,
            poll_interval=0.05,
            on_decode_error=self._bad_tx,
        )
        self.strategy = BackrunStrategy(self.state, config.params, head, own_senders=[signer.address])
        w3 = Web3(HTTPProvider(config.rpc_url, request_kwargs={"timeout": 30}))
        client = ExecutorClient(w3, config.executor, signer)
        relays = RelayFanout([RelayClient(url, relay_signer) for url in config.relay_urls])
        self.executor = BundleExecutor(
            client,
            signer,
            config.rpc_url,
            relays,
            self.journal,
            self.chain_id,
            blocks=config.blocks,
            shadow=config.shadow,
            min_net_profit=config.params.min_net_profit,
        )
        self.engine = Engine(
            [self.pool_collector, PendingSwapCollector(self.mempool, self.chain_id)],
            [self.strategy],
            [self.executor],
        )

    def _malformed(self, log: LogEvent) -> None:
        journal_bad_log(self.journal, self.chain_id, log)

    def _bad_tx(self, tx: Mapping[str, Any], error: DecodeError) -> None:
        """A router call that cannot be what the router executes: counted by the watcher, kept here."""
        self.journal.record_error(
            ErrorRecord(source="mempool", kind="malformed_tx", message=str(error),
                        payload=str(tx.get("input", ""))[:20_000], chain_id=self.chain_id)
        )  # fmt: skip

    async def run(
        self, duration_s: float | None = None, on_tick: Callable[[BackrunWatcher], None] | None = None
    ) -> None:
        """Run until `duration_s` passes (forever if None), Ctrl-C or a fatal error; always stops cleanly."""
        try:
            await self.executor.start()
            await self.engine.run_for(duration_s, (lambda: on_tick(self)) if on_tick else None)
        finally:
            await self.engine.stop()  # closes the executor too, started or not
            self.journal.close()

    def stats(self) -> EngineStats:
        return self.engine.stats()
