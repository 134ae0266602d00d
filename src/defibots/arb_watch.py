"""The arbitrage watcher, wired: pool discovery and load -> chain listener -> pool models -> amm_arb ->
public-tx executor -> journal. `defibots watch arb` and `make demo` both run this.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from defibots.chain.addresses import token
from defibots.chain.listener import ChainListener
from defibots.chain.pool_collector import PoolStateCollector
from defibots.chain.pool_discovery import PoolRef, discover_pools
from defibots.chain.pool_loader import load_v2_pairs, load_v3_pools
from defibots.chain.pool_sync import TRACKED_TOPICS, PoolModel, PoolStates, v2_from_snapshot, v3_from_snapshot
from defibots.chain.rpc import JsonRpc
from defibots.engine import Engine, EngineStats
from defibots.errors import UserError
from defibots.execution.public_tx import PublicTxExecutor
from defibots.journal import ErrorRecord, Journal
from defibots.strategies.amm_arb import AmmArbStrategy, ArbParams, Opportunity

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from defibots.chain.listener import LogEvent


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


def load_pools(rpc: JsonRpc, refs: list[PoolRef]) -> dict[str, PoolModel]:
    """Current models of the given pools, all read at one block."""
    block = int(rpc.call("eth_blockNumber"), 16)
    v3 = [r for r in refs if r.protocol == "v3"]
    models: dict[str, PoolModel] = {
        s.address: v3_from_snapshot(s)
        for s in load_v3_pools(rpc, [r.address for r in v3], [r.tick_spacing for r in v3], block)
    }
    v2 = [r.address for r in refs if r.protocol == "v2"]
    models.update({s.address: v2_from_snapshot(s) for s in load_v2_pairs(rpc, v2, block)})
    return models


class ArbWatcher:
    def __init__(self, config: WatchConfig, signer: LocalAccount) -> None:
        from web3 import HTTPProvider, Web3

        from defibots.execution.executor_client import ExecutorClient

        self.config = config
        self.rpc = JsonRpc(config.rpc_url)
        self.chain_id = int(self.rpc.call("eth_chainId"), 16)
        if config.expected_chain_id is not None and self.chain_id != config.expected_chain_id:
            expected = config.expected_chain_id
            raise UserError(
                f"RPC {config.rpc_url} serves chain {self.chain_id}, but the config expects {expected}"
            )
        if len(self.rpc.call("eth_getCode", config.executor, "latest")) <= 2:
            raise UserError(f"no executor contract at {config.executor} (run `defibots deploy executor`)")
        addresses = [token(t).address for t in config.tokens]
        self.pool_refs = discover_pools(self.rpc, addresses)
        if not self.pool_refs:
            raise UserError(
                f"no Uniswap pools found among {', '.join(config.tokens)} on chain {self.chain_id}"
            )
        self.states = PoolStates(load_pools(self.rpc, self.pool_refs).values())
        self.journal = Journal(config.journal_path)
        head = max(p.block_number for p in self.states.pools.values())
        listener = ChainListener(
            config.ws_url,
            config.rpc_url,
            [r.address for r in self.pool_refs],
            [list(TRACKED_TOPICS)],
            start_block=head + 1,
            max_connect_attempts=None if config.ws_url else 1,
        )
        self.collector = PoolStateCollector(
            listener,
            self.states,
            self.chain_id,
            lambda: load_pools(self.rpc, self.pool_refs),
            self._malformed,
        )
        self.strategy = AmmArbStrategy(self.states, config.params)
        w3 = Web3(HTTPProvider(config.rpc_url, request_kwargs={"timeout": 30}))
        client = ExecutorClient(w3, config.executor, signer)
        self.executor = PublicTxExecutor(client, self.journal, self.chain_id, shadow=config.shadow)
        self.engine = Engine([self.collector], [self.strategy], [self.executor])
        self.started = time.monotonic()

    def _malformed(self, log: LogEvent) -> None:
        self.journal.record_error(
            ErrorRecord(source="chain", kind="bad_log", message=f"malformed log from {log.address}",
                        payload=log.data.hex(), chain_id=self.chain_id, block_number=log.block_number)
        )  # fmt: skip

    async def run(
        self, duration_s: float | None = None, on_tick: Callable[[ArbWatcher], None] | None = None
    ) -> None:
        """Run until `duration_s` passes (forever if None), Ctrl-C or a fatal error; always stops cleanly."""
        ticker = asyncio.create_task(self._tick(on_tick)) if on_tick else None
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(duration_s):
                    await self.engine.run()
        finally:
            if ticker:
                ticker.cancel()
            await self.engine.stop()
            self.journal.close()

    async def _tick(self, on_tick: Callable[[ArbWatcher], None]) -> None:
        while True:
            await asyncio.sleep(0.25)
            on_tick(self)

    def stats(self) -> EngineStats:
        return self.engine.stats()

    def best(self, n: int = 5) -> list[Opportunity]:
        return self.strategy.ranked[:n]

    def last_block(self) -> int:
        return self.strategy.last_block
