"""Uniswap V2/V3 pools as a part of the market state: V2 Sync; V3 Swap, Mint, Burn.

Log data is decoded by slicing 32-byte words: this runs on the watcher's hot path, where eth_abi's
generic decoder costs ~10x more.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from eth_utils import keccak

from defibots.events import Event
from defibots.protocols.uniswap_router import (
    PoolModel as PoolModel,  # re-exported: the pools part holds these
)
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.state.store import MalformedLog, MarketState, StateLog, StatePart

SYNC = "0x" + keccak(text="Sync(uint112,uint112)").hex()
SWAP_V3 = "0x" + keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)").hex()
MINT_V3 = "0x" + keccak(text="Mint(address,address,int24,int24,uint128,uint256,uint256)").hex()
BURN_V3 = "0x" + keccak(text="Burn(address,int24,int24,uint128,uint256,uint256)").hex()
TRACKED_TOPICS = (SYNC, SWAP_V3, MINT_V3, BURN_V3)


@dataclass(frozen=True, slots=True)
class PoolsUpdated(Event):
    """Tracked pool models changed (logs were applied, or a reorg rolled them back).

    Strategies read the new states from the store's `UniswapPools`; the event only says which changed, so a
    dropped event loses no state (the next one re-reads the current models).
    """

    chain_id: int
    block_number: int
    pools: tuple[str, ...]
    reorg: bool = False


def _word(data: bytes, i: int) -> int:
    return int.from_bytes(data[32 * i : 32 * i + 32], "big")


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def _topic_int24(topic: str) -> int:
    return _signed(int(topic, 16) & ((1 << 24) - 1), 24)


def apply_log(pool: PoolModel, log: StateLog) -> PoolModel:
    """The pool state after `log`; raises MalformedLog for data that is not the event's shape."""
    topic0 = log.topics[0] if log.topics else ""
    data, block, index = log.data, log.block_number, log.log_index
    if isinstance(pool, UniswapV2Pair):
        if topic0 != SYNC or len(data) != 64:
            raise MalformedLog(f"not a Sync log for pair {pool.address}")
        return UniswapV2Pair(
            pool.address, pool.token0, pool.token1, _word(data, 0), _word(data, 1),
            pool.fee_numerator, pool.fee_denominator, block, index,
        )  # fmt: skip
    if topic0 == SWAP_V3:
        if len(data) != 160:
            raise MalformedLog(f"bad Swap data for pool {pool.address}")
        return pool.with_slot0(_word(data, 2), _signed(_word(data, 4), 256), _word(data, 3), block, index)
    if topic0 in (MINT_V3, BURN_V3):
        if len(log.topics) != 4:
            raise MalformedLog(f"bad Mint/Burn topics for pool {pool.address}")
        lower, upper = _topic_int24(log.topics[2]), _topic_int24(log.topics[3])
        amount = _word(data, 1) if topic0 == MINT_V3 else _word(data, 0)
        if (topic0 == MINT_V3 and len(data) != 128) or (topic0 == BURN_V3 and len(data) != 96):
            raise MalformedLog(f"bad Mint/Burn data for pool {pool.address}")
        if amount == 0:  # a zero burn pokes fees only; the pool's tick state is unchanged
            return pool.at(block, index)
        delta = amount if topic0 == MINT_V3 else -amount
        return pool.modify_liquidity(lower, upper, delta).pool_after.at(block, index)
    raise MalformedLog(f"untracked event {topic0[:10]} for pool {pool.address}")


class UniswapPools(StatePart[PoolModel]):
    """The tracked V2 pairs and V3 pools by address (only loaded pools are followed)."""

    name: ClassVar[str] = "uniswap"
    topics: ClassVar[tuple[str, ...]] = TRACKED_TOPICS

    def __init__(self, pools: Iterable[PoolModel] = ()) -> None:
        super().__init__((p.address, p) for p in pools)

    @property
    def pools(self) -> dict[str, PoolModel]:
        return self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def affected(self, log: StateLog) -> Sequence[str]:
        pool = self.get(log.address)
        return (pool.address,) if pool is not None else ()

    def transition(self, log: StateLog) -> dict[str, PoolModel]:
        pool = self.get(log.address)
        assert pool is not None  # `affected` said so
        return {pool.address: apply_log(pool, log)}

    def updated(self, chain_id: int, block_number: int, keys: tuple[str, ...], reorg: bool) -> Event:
        return PoolsUpdated(chain_id, block_number, keys, reorg=reorg)


def pool_market(pools: Iterable[PoolModel], history_blocks: int = 64) -> MarketState:
    """A store holding only Uniswap pools (what the arbitrage jobs run on)."""
    return MarketState([UniswapPools(pools)], history_blocks)


def uniswap(market: MarketState) -> UniswapPools:
    return market.part(UniswapPools)
