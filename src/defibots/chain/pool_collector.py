"""The chain-state collector: blocks and pool logs from the listener, applied to the shared pool models.

Applying logs here (not in a strategy) keeps state out of the lossy event queues: the bus only carries
`PoolsUpdated` notices, so a dropped notice costs a re-evaluation, never a wrong model.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from eth_abi.exceptions import DecodingError

from defibots.chain.async_rpc import Backoff, HttpRpc, RpcConnectionError, RpcReplyError, to_int
from defibots.chain.events import NewBlock, PoolsUpdated
from defibots.chain.listener import BlockHeader, ChainListener, LogEvent, Reorg
from defibots.chain.pool_discovery import PoolRef
from defibots.chain.pool_loader import load_v2_pairs_async, load_v3_pools_async
from defibots.chain.pool_sync import PoolModel, PoolStates, pool_models
from defibots.engine import Collector
from defibots.events import Event, Stamps

log = logging.getLogger(__name__)

Reloader = Callable[[], Awaitable[dict[str, PoolModel]]]
RELOAD_ERRORS = (RpcConnectionError, RpcReplyError, DecodingError)
"""What a reload can fail with because of the node (down, mid-reorg, a garbled reply): retried."""


class PoolReloader:
    """Fresh models of the tracked pools, all read at one block, over async HTTP.

    Async so that a reload after a deep reorg never blocks the event loop (the listener's websocket, the
    other collectors and the executors keep running while the pools load).
    """

    def __init__(self, rpc_url: str, refs: Sequence[PoolRef], timeout: float = 60.0) -> None:
        self.rpc_url = rpc_url
        self.refs = list(refs)
        self.timeout = timeout

    async def __call__(self) -> dict[str, PoolModel]:
        async with HttpRpc(self.rpc_url, self.timeout) as rpc:
            block = to_int(await rpc.call("eth_blockNumber"))
            v3 = [r for r in self.refs if r.protocol == "v3"]
            v3_snapshots = await load_v3_pools_async(
                rpc, [r.address for r in v3], [r.tick_spacing for r in v3], block
            )
            v2 = [r.address for r in self.refs if r.protocol == "v2"]
            v2_snapshots = await load_v2_pairs_async(rpc, v2, block)
        return pool_models(v3_snapshots, v2_snapshots)


class PoolStateCollector(Collector):
    """Listener events -> pool models -> `NewBlock` / `PoolsUpdated` on the bus.

    A reorg within the kept history is rolled back; a deeper one reloads the pools, retried with
    `reload_backoff` until it succeeds: a node outage while running must never stop the watcher.
    """

    def __init__(
        self,
        listener: ChainListener,
        states: PoolStates,
        chain_id: int,
        reload: Reloader,
        on_malformed: Callable[[LogEvent], None] | None = None,
    ) -> None:
        self.listener = listener
        self.states = states
        self.chain_id = chain_id
        self.reload = reload
        self.on_malformed = on_malformed
        self.reload_backoff = Backoff(initial=0.2, maximum=10.0)
        self.blocks_seen = 0
        self.reloads = 0
        self.reload_failures = 0

    async def events(self) -> AsyncIterator[Event]:
        async for item in self.listener.events():
            stamps = Stamps.now()
            if isinstance(item, LogEvent):
                malformed_before = self.states.stats.malformed
                new = self.states.apply(item)
                if new is not None:
                    yield PoolsUpdated(self.chain_id, item.block_number, (new.address,), stamps=stamps)
                elif self.states.stats.malformed != malformed_before and self.on_malformed:
                    self.on_malformed(item)
            elif isinstance(item, BlockHeader):
                self.blocks_seen += 1
                yield NewBlock(
                    chain_id=self.chain_id, number=item.number, hash=item.hash, parent_hash=item.parent_hash,
                    timestamp=item.timestamp, base_fee_per_gas=item.base_fee, gas_used=item.gas_used,
                    gas_limit=item.gas_limit, stamps=stamps,
                )  # fmt: skip
            elif isinstance(item, Reorg):
                try:
                    if item.beyond_window:  # the real fork may be older than the listener knows
                        raise LookupError(item.fork_block)
                    restored = self.states.rollback(item.fork_block)
                except LookupError:
                    restored = await self._reload()
                    self.states.replace(restored)
                    self.reloads += 1
                yield PoolsUpdated(self.chain_id, item.fork_block, tuple(restored), reorg=True, stamps=stamps)

    async def _reload(self) -> dict[str, PoolModel]:
        """The reloaded models; a failure is logged and retried after a backoff, never raised."""
        while True:
            try:
                models = await self.reload()
            except RELOAD_ERRORS as exc:
                self.reload_failures += 1
                delay = self.reload_backoff.next_delay()
                log.warning("pool reload failed (%s); retry %d in %.2fs", exc, self.reload_failures, delay)
                await asyncio.sleep(delay)
                continue
            self.reload_backoff.reset()
            return models

    async def close(self) -> None:
        return None
