"""Keep pool models current from logs: V2 Sync; V3 Swap, Mint, Burn. Forward-only, with per-block
history so a reorg is a rollback plus a replay, not a reload.

Log data is decoded by slicing 32-byte words: this runs on the watcher's hot path, where eth_abi's
generic decoder costs ~10x more.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from eth_utils import keccak

from defibots.chain.pool_loader import V2PairSnapshot, V3PoolSnapshot
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.protocols.uniswap_v3 import UniswapV3Pool

PoolModel = UniswapV2Pair | UniswapV3Pool

SYNC = "0x" + keccak(text="Sync(uint112,uint112)").hex()
SWAP_V3 = "0x" + keccak(text="Swap(address,address,int256,int256,uint160,uint128,int24)").hex()
MINT_V3 = "0x" + keccak(text="Mint(address,address,int24,int24,uint128,uint256,uint256)").hex()
BURN_V3 = "0x" + keccak(text="Burn(address,int24,int24,uint128,uint256,uint256)").hex()
TRACKED_TOPICS = (SYNC, SWAP_V3, MINT_V3, BURN_V3)


class PoolLog(Protocol):
    """What the sync needs of a log (the listener's LogEvent has it)."""

    @property
    def address(self) -> str: ...
    @property
    def topics(self) -> tuple[str, ...]: ...
    @property
    def data(self) -> bytes: ...
    @property
    def block_number(self) -> int: ...
    @property
    def log_index(self) -> int: ...


class MalformedLog(ValueError):
    """A tracked event whose topics or data do not have the event's shape."""


def _word(data: bytes, i: int) -> int:
    return int.from_bytes(data[32 * i : 32 * i + 32], "big")


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def _topic_int24(topic: str) -> int:
    return _signed(int(topic, 16) & ((1 << 24) - 1), 24)


END_OF_BLOCK = 2**31
"""Log index stamped on loaded snapshots: they hold the state after every log of their block."""


def v2_from_snapshot(s: V2PairSnapshot) -> UniswapV2Pair:
    return UniswapV2Pair(
        s.address,
        s.token0,
        s.token1,
        s.reserve0,
        s.reserve1,
        block_number=s.block_number,
        log_index=END_OF_BLOCK,
    )


def v3_from_snapshot(s: V3PoolSnapshot) -> UniswapV3Pool:
    return UniswapV3Pool.from_chain_state(
        address=s.address, token0=s.token0, token1=s.token1, fee=s.fee, tick_spacing=s.tick_spacing,
        sqrt_price_x96=s.sqrt_price_x96, tick=s.tick, liquidity=s.liquidity, ticks=s.ticks,
        block_number=s.block_number, log_index=END_OF_BLOCK,
    )  # fmt: skip


def pool_models(v3: Iterable[V3PoolSnapshot], v2: Iterable[V2PairSnapshot]) -> dict[str, PoolModel]:
    """Models by address from one load's snapshots (the blocking and the async loader share this)."""
    models: dict[str, PoolModel] = {s.address: v3_from_snapshot(s) for s in v3}
    models.update({s.address: v2_from_snapshot(s) for s in v2})
    return models


def apply_log(pool: PoolModel, log: PoolLog) -> PoolModel:
    """The pool state after `log`; raises ValueError for a stale update, MalformedLog for bad data."""
    topic0 = log.topics[0] if log.topics else ""
    data, block, index = log.data, log.block_number, log.log_index
    if (block, index) <= (pool.block_number, pool.log_index):
        raise ValueError(f"stale or repeated update for pool {pool.address}: ({block}, {index})")
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


@dataclass
class SyncStats:
    applied: int = 0
    stale: int = 0
    malformed: int = 0
    rollbacks: int = 0


class PoolStates:
    """The tracked pools' current models plus, per recent block, each changed pool's previous state."""

    def __init__(self, pools: Iterable[PoolModel], history_blocks: int = 64) -> None:
        self.pools: dict[str, PoolModel] = {p.address: p for p in pools}
        self._lower = {address.lower(): address for address in self.pools}
        self.history_blocks = history_blocks
        self._undo: OrderedDict[int, dict[str, PoolModel]] = OrderedDict()
        self.stats = SyncStats()

    def __contains__(self, address: str) -> bool:
        return address in self.pools or address.lower() in self._lower

    def get(self, address: str) -> PoolModel | None:
        return self.pools.get(address) or self.pools.get(self._lower.get(address.lower(), ""))

    def apply(self, log: PoolLog) -> PoolModel | None:
        """Apply one log; returns the new state, or None if the log was ignored (counted)."""
        pool = self.get(log.address)
        if pool is None:
            return None
        try:
            new = apply_log(pool, log)
        except MalformedLog:
            self.stats.malformed += 1
            return None
        except ValueError:
            self.stats.stale += 1
            return None
        undo = self._undo.get(log.block_number)
        if undo is None:
            undo = self._undo[log.block_number] = {}
            while len(self._undo) > self.history_blocks:
                self._undo.popitem(last=False)
        undo.setdefault(pool.address, pool)
        self.pools[pool.address] = new
        self.stats.applied += 1
        return new

    def apply_many(self, logs: Iterable[PoolLog]) -> dict[str, PoolModel]:
        changed: dict[str, PoolModel] = {}
        for log in logs:
            new = self.apply(log)
            if new is not None:
                changed[new.address] = new
        return changed

    def rollback(self, fork_block: int) -> dict[str, PoolModel]:
        """Undo every change from blocks after `fork_block`; returns the pools that changed back.

        Raises LookupError when the fork is older than the kept history (the caller must reload).
        """
        dropped = [b for b in self._undo if b > fork_block]
        if (
            dropped
            and self._undo
            and min(self._undo) > fork_block + 1
            and len(self._undo) >= self.history_blocks
        ):
            raise LookupError(f"reorg below the kept history (fork at {fork_block})")
        restored: dict[str, PoolModel] = {}
        for block in sorted(dropped, reverse=True):
            for address, previous in self._undo.pop(block).items():
                self.pools[address] = previous
                restored[address] = previous
        self.stats.rollbacks += 1
        return restored

    def replace(self, pools: Mapping[str, PoolModel]) -> None:
        """Adopt freshly loaded states (after a reload); history no longer applies."""
        self.pools.update(pools)
        self._lower.update({a.lower(): a for a in pools})
        self._undo.clear()
