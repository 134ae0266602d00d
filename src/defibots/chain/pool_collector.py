"""The chain-state collector: blocks and pool logs from the listener, applied to the shared pool models.

Applying logs here (not in a strategy) keeps state out of the lossy event queues: the bus only carries
`PoolsUpdated` notices, so a dropped notice costs a re-evaluation, never a wrong model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from defibots.chain.listener import BlockHeader, ChainListener, LogEvent, Reorg
from defibots.chain.pool_sync import PoolModel, PoolStates
from defibots.engine import Collector
from defibots.events import Event, NewBlock, PoolsUpdated, Stamps

Reloader = Callable[[], dict[str, PoolModel]]


class PoolStateCollector(Collector):
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
        self.blocks_seen = 0
        self.reloads = 0

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
                    timestamp=item.timestamp, base_fee_per_gas=item.base_fee, stamps=stamps,
                )  # fmt: skip
            elif isinstance(item, Reorg):
                try:
                    if item.beyond_window:  # the real fork may be older than the listener knows
                        raise LookupError(item.fork_block)
                    restored = self.states.rollback(item.fork_block)
                except LookupError:
                    restored = self.reload()
                    self.states.replace(restored)
                    self.reloads += 1
                yield PoolsUpdated(self.chain_id, item.fork_block, tuple(restored), reorg=True, stamps=stamps)

    async def close(self) -> None:
        return None
