"""Backruns: a pending router swap moves pools; arbitrage them back right after it, in the same block.

Pure: a pending swap plus the current pool models in, at most one `BackrunBundleAction` out. The event carries
the victim's call as the mempool watcher decoded it (all legs of a multicall, so the prediction is
all-or-nothing as the router is); the legs are applied to copies of the models
(`protocols.uniswap_router.predict`), and a scratch copy of the arbitrage finder prices the cycles through
the moved pools on the predicted states. The live models and the template finder are never changed.

Backruns only: the action always puts the victim's own signed transaction first and ours after it; the
strategy never looks for a trade to place before a user's transaction, and never backruns our own.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from eth_typing import ChecksumAddress

from defibots.actions import BackrunBundleAction, BundlePrepare, PoolToWarm
from defibots.chain import router_calls
from defibots.chain.events import MempoolSwap, NewBlock
from defibots.chain.pool_address import v2_pair_address, v3_pool_address
from defibots.chain.router_calls import RouterKind
from defibots.engine import Action, Strategy
from defibots.events import Event
from defibots.protocols.eip1559 import next_base_fee
from defibots.protocols.uniswap_router import PoolModel, RouterHop, Unpredictable, predict
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.state.store import MarketState
from defibots.state.uniswap import uniswap
from defibots.strategies.amm_arb import ArbFinder, ArbParams


@dataclass(frozen=True, slots=True)
class Head:
    """The block a backrun builds on; the bundle targets the one after it."""

    number: int
    hash: str
    timestamp: int
    base_fee: int
    gas_used: int = 0
    gas_limit: int = 0

    @property
    def next_base_fee(self) -> int:
        return next_base_fee(self.base_fee, self.gas_used, self.gas_limit)

    @classmethod
    def of_rpc_block(cls, block: Mapping[str, Any]) -> Head:
        """From an eth_getBlockByNumber reply (a job's starting head)."""
        return cls(int(block["number"], 16), str(block["hash"]), int(block["timestamp"], 16),
                   int(block.get("baseFeePerGas") or "0x0", 16), int(block["gasUsed"], 16),
                   int(block["gasLimit"], 16))  # fmt: skip

    @classmethod
    def of(cls, block: NewBlock) -> Head:
        return cls(block.number, block.hash, block.timestamp, block.base_fee_per_gas or 0,
                   block.gas_used, block.gas_limit)  # fmt: skip


@dataclass
class BackrunStats:
    pending_swaps: int = 0
    no_raw: int = 0
    own: int = 0
    unpredictable: int = 0
    victim_reverts: int = 0
    no_opportunity: int = 0
    actions: int = 0


@lru_cache(maxsize=4096)
def _pool_address(protocol: str, token_in: str, token_out: str, fee: int | None) -> ChecksumAddress:
    if protocol == "v2":
        return v2_pair_address(token_in, token_out)
    assert fee is not None
    return v3_pool_address(token_in, token_out, fee)


class BackrunStrategy(Strategy):
    """MempoolSwap -> predicted post-state -> best arbitrage through the moved pools -> BackrunBundleAction.

    `params.builder_share_bps` is the builder's share of the gross profit and `params.priority_fee` the tip
    our transaction pays per gas (both end up in the action, so the executor signs exactly what was priced).
    """

    def __init__(
        self,
        market: MarketState,
        params: ArbParams,
        head: Head | None = None,
        own_senders: Iterable[str] = (),
    ) -> None:
        self.uniswap = uniswap(market)
        self.params = params
        self.head = head
        self.own = {s.lower() for s in own_senders}
        self.finder = ArbFinder(self.uniswap.pools, params)
        self.stats = BackrunStats()
        self.last: BackrunBundleAction | None = None

    @property
    def name(self) -> str:
        return "backrun"

    async def process_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, NewBlock):
            if self.head is not None and event.number < self.head.number:
                return ()
            self.head = Head.of(event)
            return (BundlePrepare(state_block=event.number, pools=self.pools_to_warm()),)
        if isinstance(event, MempoolSwap):
            action = self.plan(event)
            return (action,) if action is not None else ()
        return ()

    def pools_to_warm(self) -> tuple[PoolToWarm, ...]:
        return pools_to_warm(self.uniswap.pools.values())

    def plan(self, swap: MempoolSwap) -> BackrunBundleAction | None:
        """The backrun of one pending swap (None when there is nothing to do, counted in `stats`)."""
        tx = swap.tx
        self.stats.pending_swaps += 1
        if tx.sender.lower() in self.own:
            self.stats.own += 1
            return None
        if tx.raw is None:
            self.stats.no_raw += 1
            return None
        head = self.head
        if head is None:
            self.stats.unpredictable += 1
            return None
        moved = self.predicted_states(swap.call, head)
        if moved is None:
            return None
        target = head.number + 1
        base_fee = head.next_base_fee
        finder = self._scratch_finder(base_fee, target)
        ranked = finder.update(moved, target)
        if not ranked:
            self.stats.no_opportunity += 1
            return None
        self.stats.actions += 1
        self.last = BackrunBundleAction(
            opportunity=ranked[0],
            victim=tx,
            victim_raw=tx.raw,
            builder_share_bps=self.params.builder_share_bps,
            state_block=head.number,
            target_block=target,
            base_fee=base_fee,
            priority_fee=self.params.priority_fee,
            moved_pools=tuple(moved),
        )
        return self.last

    def predicted_states(self, call: router_calls.PendingSwap, head: Head) -> dict[str, PoolModel] | None:
        """The pools the victim moves, as they will be right after it (None: unknown or it reverts)."""
        previous_blockhash = call.previous_blockhash
        if previous_blockhash is not None and previous_blockhash.lower() != head.hash.lower():
            self.stats.victim_reverts += 1
            return None
        pools = self.uniswap

        def resolve(hop: RouterHop) -> PoolModel | None:
            return pools.get(_pool_address(hop.protocol, hop.token_in, hop.token_out, hop.fee))

        try:
            prediction = predict(
                call.legs,
                resolve,
                timestamp=head.timestamp + 1,
                v2_output_from_balance=call.router_kind is RouterKind.V3_SWAP_ROUTER02,
            )
        except Unpredictable:
            self.stats.unpredictable += 1
            return None
        if prediction.reverted or not prediction.states:
            self.stats.victim_reverts += 1
            return None
        return prediction.states

    def _scratch_finder(self, base_fee: int, target: int) -> ArbFinder:
        """A copy of the template finder over the live models: shares the cycle index, owns its state."""
        finder = copy.copy(self.finder)
        finder.pools = dict(self.uniswap.pools)
        finder.clear()
        finder.params = replace(self.params, base_fee=base_fee)
        finder.block_number = target
        return finder


def pools_to_warm(pools: Iterable[PoolModel]) -> tuple[PoolToWarm, ...]:
    """What a swap through each pool reads first (V3: the bitmap words around the current tick)."""
    out = []
    for pool in pools:
        if isinstance(pool, UniswapV3Pool):
            word = (pool.tick // pool.tick_spacing) >> 8  # floor, as TickBitmap.position
            words = (word - 1, word, word + 1)
            out.append(PoolToWarm(pool.address, "v3", pool.token0, pool.token1, words))
        else:
            out.append(PoolToWarm(pool.address, "v2", pool.token0, pool.token1))
    return tuple(out)
