"""The chain-state collectors: blocks and logs applied to the market-state store, then announced.

Applying logs here (not in a strategy) keeps state out of the lossy event queues: the bus only carries
notices (each part's own `updated` event), so a dropped notice costs a re-evaluation, never a wrong model.
The order is always apply first, then publish: a strategy woken by a notice reads state that already
holds the change.

- `StateCollector` follows the live chain: each log is applied as it arrives and announced at once (the
  finest unit the node delivers; waiting for the block to end would cost the arbitrage its latency).
- `ReplayCollector` feeds recorded blocks in lock-step: a whole block is applied, announced, and every
  strategy and executor has finished with it before the next block is touched, so a strategy never sees
  state from a later block.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

from eth_abi.exceptions import DecodingError

from defibots.chain.async_rpc import Backoff, HttpRpc, RpcConnectionError, RpcReplyError
from defibots.chain.events import NewBlock
from defibots.chain.listener import BlockHeader, ChainListener, LogEvent, Reorg, parse_header, parse_log
from defibots.engine import Collector
from defibots.events import Event, Stamps
from defibots.state.store import Changes, MarketState, PartLoader

log = logging.getLogger(__name__)

RELOAD_ERRORS = (RpcConnectionError, RpcReplyError, DecodingError)
"""What a reload can fail with because of the node (down, mid-reorg, a garbled reply): retried."""


def new_block(chain_id: int, header: BlockHeader, stamps: Stamps | None = None) -> NewBlock:
    return NewBlock(
        chain_id=chain_id, number=header.number, hash=header.hash, parent_hash=header.parent_hash,
        timestamp=header.timestamp, base_fee_per_gas=header.base_fee, gas_used=header.gas_used,
        gas_limit=header.gas_limit, stamps=stamps or Stamps.now(),
    )  # fmt: skip


class StateCollector(Collector):
    """Listener events -> the store -> `NewBlock` and each part's update notice on the bus.

    A reorg within the kept history is rolled back; a deeper one reloads every part that has a loader,
    retried with `reload_backoff` until it succeeds: a node outage while running must never stop the job.
    """

    def __init__(
        self,
        listener: ChainListener,
        market: MarketState,
        chain_id: int,
        loaders: Mapping[str, PartLoader[Any]],
        on_malformed: Callable[[LogEvent], None] | None = None,
    ) -> None:
        self.listener = listener
        self.market = market
        self.chain_id = chain_id
        self.loaders = dict(loaders)
        self.on_malformed = on_malformed
        self.reload_backoff = Backoff(initial=0.2, maximum=10.0)
        self.blocks_seen = 0
        self.reloads = 0
        self.reload_failures = 0

    async def events(self) -> AsyncIterator[Event]:
        market = self.market
        async for item in self.listener.events():
            stamps = Stamps.now()
            if isinstance(item, LogEvent):
                malformed_before = market.stats.malformed
                changes = market.apply(item)
                for event in market.events(self.chain_id, item.block_number, changes):
                    event.stamps.received = stamps.received
                    yield event
                if market.stats.malformed != malformed_before and self.on_malformed:
                    self.on_malformed(item)
            elif isinstance(item, BlockHeader):
                market.observe_block(item.number, item.timestamp)
                self.blocks_seen += 1
                yield new_block(self.chain_id, item, stamps)
            elif isinstance(item, Reorg):
                try:
                    if item.beyond_window:  # the real fork may be older than the listener knows
                        raise LookupError(item.fork_block)
                    restored = market.rollback(item.fork_block)
                except LookupError:
                    restored = await self._reload()
                    self.reloads += 1
                for event in market.events(self.chain_id, item.fork_block, restored, reorg=True):
                    yield event

    async def _reload(self) -> Changes:
        """Reload every part with a loader; a failure is logged and retried after a backoff, never raised."""
        restored: Changes = {}
        for name, loader in self.loaders.items():
            entries = await self._retry(name, loader)
            self.market.replace(name, entries)
            restored[name] = tuple(entries)
        return restored

    async def _retry(self, name: str, loader: PartLoader[Any]) -> dict[str, Any]:
        while True:
            try:
                entries = await loader()
            except RELOAD_ERRORS as exc:
                self.reload_failures += 1
                delay = self.reload_backoff.next_delay()
                log.warning(
                    "%s reload failed (%s); retry %d in %.2fs", name, exc, self.reload_failures, delay
                )
                await asyncio.sleep(delay)
                continue
            self.reload_backoff.reset()
            return entries


RecordedBlock = tuple[BlockHeader, list[LogEvent]]


async def recorded_blocks(
    rpc_url: str, first: int, last: int, addresses: Iterable[str], topics: Iterable[str]
) -> AsyncIterator[RecordedBlock]:
    """Blocks `first`..`last` of a node with their followed logs, one block at a time, in order."""
    flt = {"address": list(addresses), "topics": [list(topics)]}
    async with HttpRpc(rpc_url) as rpc:
        for number in range(first, last + 1):
            header_obj, logs = await rpc.batch(
                [
                    ("eth_getBlockByNumber", [hex(number), False]),
                    ("eth_getLogs", [{**flt, "fromBlock": hex(number), "toBlock": hex(number)}]),
                ]
            )
            yield parse_header(header_obj), sorted((parse_log(o) for o in logs), key=lambda e: e.log_index)


class ReplayCollector(Collector):
    """Recorded blocks -> the store, in lock-step: after each block's events, `settle()` is awaited
    (the engine's `settled`: every queued event and action handled) before the next block is applied."""

    def __init__(
        self,
        blocks: AsyncIterator[RecordedBlock],
        market: MarketState,
        chain_id: int,
        settle: Callable[[], Awaitable[None]],
    ) -> None:
        self.blocks = blocks
        self.market = market
        self.chain_id = chain_id
        self.settle = settle
        self.blocks_replayed = 0

    async def events(self) -> AsyncIterator[Event]:
        async for header, logs in self.blocks:
            self.market.observe_block(header.number, header.timestamp)
            changes = self.market.apply_many(logs)
            yield new_block(self.chain_id, header)
            for event in self.market.events(self.chain_id, header.number, changes):
                yield event
            self.blocks_replayed += 1
            await self.settle()
