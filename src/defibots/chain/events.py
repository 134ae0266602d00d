"""The chain's events on the engine's bus: blocks and pending transactions.

Produced by the chain sources: `NewBlock` by the state collectors (chain/state_collector.py, fed by
the listener), `PendingTx` and `MempoolSwap` by the mempool watcher (chain/mempool.py). What changed in
the market state is announced by each state part's own event (state/uniswap.py: `PoolsUpdated`). The bus
itself (defibots.events) knows none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from defibots.chain.router_calls import PendingSwap
from defibots.events import Event


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
class MempoolSwap(Event):
    """A pending router transaction, decoded once by the mempool watcher: one event per transaction.

    `call` holds every leg the router will execute, in order, so a multicall is modelled all-or-nothing
    as the router runs it; `tx` is the transaction itself (with its signed bytes, for a bundle).
    """

    tx: PendingTx
    call: PendingSwap

    @property
    def chain_id(self) -> int:
        return self.tx.chain_id


@dataclass(frozen=True, slots=True)
class PendingPriceUpdate(Event):
    """A pending price-feed update (from chain/price_updates.py): the feed, the answer it will publish, and
    the transaction (with its signed bytes, to bundle it first and our liquidations after it)."""

    tx: PendingTx
    feed: str
    answer: int

    @property
    def chain_id(self) -> int:
        return self.tx.chain_id
