"""Typed events that collectors put on the engine's bus, each carrying per-stage timestamps.

Events are frozen: one event may fan out to several strategies, so nobody may change what it says.
Only its `Stamps` (excluded from equality and hashing) is written to, by the engine, as it moves on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from defibots.cex.book import Depth
from defibots.chain import router_calls

Stage = Literal["received", "queued", "dispatched", "decided", "simulated", "sent"]
STAGES: tuple[Stage, ...] = ("received", "queued", "dispatched", "decided", "simulated", "sent")


@dataclass(slots=True)
class Stamps:
    """`time.perf_counter_ns()` when an event or action reached each stage; 0 means not reached.

    received: a collector turned outside data into the event; queued: the engine put it on a strategy's
    queue; dispatched: a strategy started on it; decided: the strategy returned the action; simulated /
    sent: the executor finished simulating / handed it to the network.
    """

    received: int = 0
    queued: int = 0
    dispatched: int = 0
    decided: int = 0
    simulated: int = 0
    sent: int = 0

    @classmethod
    def now(cls) -> Stamps:
        return cls(received=time.perf_counter_ns())

    def mark(self, stage: Stage, at: int | None = None) -> int:
        """Record `stage` now (or at `at`) and return the timestamp."""
        value = time.perf_counter_ns() if at is None else at
        setattr(self, stage, value)
        return value

    def mark_once(self, stage: Stage) -> None:
        """Record `stage` only if it has not been reached yet (first strategy to pick an event up)."""
        if not getattr(self, stage):
            setattr(self, stage, time.perf_counter_ns())

    def copy(self) -> Stamps:
        return Stamps(self.received, self.queued, self.dispatched, self.decided, self.simulated, self.sent)

    def reached(self) -> list[tuple[Stage, int]]:
        return [(stage, getattr(self, stage)) for stage in STAGES if getattr(self, stage)]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of everything on the bus."""

    stamps: Stamps = field(default_factory=Stamps.now, compare=False, hash=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class NewBlock(Event):
    chain_id: int
    number: int
    hash: str
    parent_hash: str
    timestamp: int  # unix seconds
    base_fee_per_gas: int | None = None
    gas_used: int = 0
    gas_limit: int = 0


@dataclass(frozen=True, slots=True)
class PoolLog(Event):
    """One log of a watched pool; `removed` is set when a reorg takes it back."""

    chain_id: int
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    address: str
    topics: tuple[str, ...]
    data: bytes
    removed: bool = False


@dataclass(frozen=True, slots=True)
class Reorg(Event):
    """The blocks after `fork_block` were replaced: roll state derived from them back to `fork_block`."""

    chain_id: int
    fork_block: int  # last block both branches share
    depth: int  # blocks dropped from the old branch
    old_head_hash: str
    removed_logs: tuple[PoolLog, ...] = ()  # tracked logs of the dropped blocks, newest first
    beyond_window: bool = False  # fork older than the blocks the source kept: the real fork may be lower


@dataclass(frozen=True, slots=True)
class PoolsUpdated(Event):
    """Tracked pool models changed (a log was applied, or a reorg rolled them back).

    Strategies read the new states from the shared `PoolStates`; the event only says which changed, so a
    dropped event loses no state (the next one re-reads the current models).
    """

    chain_id: int
    block_number: int
    pools: tuple[str, ...]
    reorg: bool = False


@dataclass(frozen=True, slots=True)
class PendingTx(Event):
    """A transaction seen in the mempool (not yet mined)."""

    chain_id: int
    hash: str
    sender: str
    to: str | None
    nonce: int
    value: int
    gas: int
    input: bytes
    tx_type: int = 2
    gas_price: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class PendingSwap(Event):
    """A pending router transaction, decoded once by the mempool watcher: one event per transaction.

    `call` holds every leg the router will execute, in order, so a multicall is modelled all-or-nothing
    as the router runs it; `tx` is the transaction itself (with its signed bytes, for a bundle).
    """

    tx: PendingTx
    call: router_calls.PendingSwap

    @property
    def chain_id(self) -> int:
        return self.tx.chain_id


@dataclass(frozen=True, slots=True)
class BookTop(Event):
    """Best bid and ask of one CEX symbol; prices and sizes exact Decimals (see defibots.cex.book)."""

    venue: str
    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    timestamp_ms: int
    depth: Depth | None = field(default=None, compare=False)

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class Timer(Event):
    """A clock tick: `tick` counts from 0 for each named timer."""

    name: str
    tick: int
    interval_s: float
