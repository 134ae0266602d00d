"""The market-state store's rules, the same for every protocol part: updates only move forward in (block,
log index), a rollback restores each entry to what it was before the dropped blocks (entries created
there disappear), and a fork older than the kept history is refused, so the caller reloads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import pytest
from eth_utils import keccak

from defibots.events import Event
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.state.store import MalformedLog, MarketState, StateLog, StatePart
from defibots.state.uniswap import SYNC, PoolsUpdated, UniswapPools, uniswap

WETH, USDC = "0x" + "11" * 20, "0x" + "22" * 20
TRANSFER = "0x" + keccak(text="Transfer(address,address,uint256)").hex()


@dataclass(frozen=True)
class Log:
    address: str
    topics: tuple[str, ...]
    data: bytes
    block_number: int
    log_index: int


@dataclass(frozen=True)
class Balance:
    amount: int
    block_number: int
    log_index: int


@dataclass(frozen=True)
class BalancesUpdated(Event):
    holders: tuple[str, ...]


class TokenBalances(StatePart[Balance]):
    """A second protocol's part, as a new module would write it: one token's holders, created on sight."""

    name: ClassVar[str] = "balances"
    topics: ClassVar[tuple[str, ...]] = (TRANSFER,)

    def affected(self, log: StateLog) -> Sequence[str]:
        if log.address != USDC or len(log.topics) != 3:
            return ()
        return tuple("0x" + t[-40:] for t in log.topics[1:])

    def transition(self, log: StateLog) -> dict[str, Balance]:
        if len(log.data) != 32:
            raise MalformedLog("bad Transfer data")
        value = int.from_bytes(log.data, "big")
        new = {}
        for key, sign in zip(self.affected(log), (-1, 1), strict=True):
            old = self.get(key)
            new[key] = Balance((old.amount if old else 0) + sign * value, log.block_number, log.log_index)
        return new

    def updated(self, chain_id: int, block_number: int, keys: tuple[str, ...], reorg: bool) -> Event:
        return BalancesUpdated(keys)


PAIR = UniswapV2Pair("0x" + "0a" * 20, WETH, USDC, 10 * 10**18, 30_000 * 10**6, block_number=9)


def sync(reserve0: int, reserve1: int, block: int, index: int = 0, address: str = PAIR.address) -> Log:
    return Log(address, (SYNC,), reserve0.to_bytes(32, "big") + reserve1.to_bytes(32, "big"), block, index)


def transfer(sender: str, to: str, value: int, block: int, index: int = 0) -> Log:
    topics = (TRANSFER, "0x" + sender[2:].rjust(64, "0"), "0x" + to[2:].rjust(64, "0"))
    return Log(USDC, topics, value.to_bytes(32, "big"), block, index)


def reserves(market: MarketState) -> tuple[int, int, int, int]:
    pair = uniswap(market).pools[PAIR.address]
    assert isinstance(pair, UniswapV2Pair)
    return pair.reserve0, pair.reserve1, pair.block_number, pair.log_index


def market(history_blocks: int = 64) -> MarketState:
    return MarketState([UniswapPools([PAIR]), TokenBalances()], history_blocks)


def test_updates_only_move_forward() -> None:
    state = market()
    assert state.apply(sync(11, 1, 10, 3)) == {"uniswap": (PAIR.address,)}
    for old in (sync(12, 2, 10, 3), sync(12, 2, 10, 1), sync(12, 2, 9, 7), sync(12, 2, 5)):
        assert state.apply(old) == {}
    assert reserves(state) == (11, 1, 10, 3)
    assert state.stats.stale == 4 and state.stats.applied == 1
    state.apply(sync(13, 3, 10, 4))
    assert reserves(state) == (13, 3, 10, 4)


def test_untracked_and_malformed_logs_change_nothing() -> None:
    state = market()
    assert state.apply(sync(1, 1, 10, address="0x" + "0b" * 20)) == {}  # a pair nobody loaded
    bad = Log(PAIR.address, (SYNC,), b"\x01" * 40, 10, 0)
    assert state.apply(bad) == {} and state.stats.malformed == 1
    assert reserves(state) == (PAIR.reserve0, PAIR.reserve1, 9, 0)


def test_rollback_restores_previous_entries_and_drops_created_ones() -> None:
    state = market()
    alice, bob = "0x" + "a1" * 20, "0x" + "b0" * 20
    state.apply_many([sync(11, 1, 10), transfer(alice, bob, 5, 10, 1)])
    state.apply_many([sync(12, 2, 11), transfer(bob, alice, 2, 11, 1), sync(13, 3, 11, 2)])
    carol = "0x" + "c0" * 20
    state.apply(transfer(bob, carol, 1, 12))
    balances = state.part(TokenBalances)
    assert balances.get(carol) == Balance(1, 12, 0) and state.head() == 12
    restored = state.rollback(10)
    assert {name: set(keys) for name, keys in restored.items()} == {
        "balances": {alice, bob, carol}, "uniswap": {PAIR.address}
    }  # fmt: skip
    assert reserves(state) == (11, 1, 10, 0)
    assert carol not in balances and balances.get(bob) == Balance(5, 10, 1)
    assert balances.get(alice) == Balance(-5, 10, 1)
    assert state.head() == 10
    # the replacement chain applies from the fork on: its logs are not stale
    assert state.apply(sync(20, 20, 11)) == {"uniswap": (PAIR.address,)}


def test_rollback_below_the_kept_history_is_refused() -> None:
    state = market(history_blocks=3)
    with pytest.raises(LookupError):
        state.rollback(8)  # the loaded pair reflects block 9: its past is not kept
    for block in range(10, 16):
        state.apply(sync(block, block, block))
    state.rollback(13)  # 13, 14 and 15 are kept
    assert reserves(state)[:3] == (13, 13, 13)
    with pytest.raises(LookupError):
        state.rollback(11)  # block 12's change was forgotten
    assert reserves(state)[:3] == (13, 13, 13)
    state.rollback(12)
    assert reserves(state)[:3] == (12, 12, 12)


def test_events_follow_the_parts_order_one_per_changed_part() -> None:
    state = market()
    changes = state.apply_many([transfer("0x" + "a1" * 20, "0x" + "b0" * 20, 1, 10), sync(11, 1, 10, 1)])
    events = state.events(1, 10, changes)
    assert [type(e) for e in events] == [PoolsUpdated, BalancesUpdated]
    assert events[0] == PoolsUpdated(1, 10, (PAIR.address,))


def test_two_parts_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two state parts named uniswap"):
        MarketState([UniswapPools(), UniswapPools()])
    with pytest.raises(KeyError):
        MarketState([UniswapPools()]).part(TokenBalances)


def test_replace_adopts_a_reload_and_forgets_history() -> None:
    state = market()
    state.apply(sync(11, 1, 10))
    fresh = UniswapV2Pair(PAIR.address, WETH, USDC, 7, 7, block_number=30)
    state.replace("uniswap", {PAIR.address: fresh})
    assert reserves(state) == (7, 7, 30, 0)
    with pytest.raises(LookupError):
        state.rollback(29)  # the reload is the truth at block 30; nothing before it is kept
    assert state.rollback(30) == {} and reserves(state) == (7, 7, 30, 0)
