"""Replaying recorded blocks in lock-step: a strategy woken by a block's notice reads the store as of that
block, never later, and the models it reads equal the chain at that block. Without the lock-step the same
replay runs ahead of a slow strategy, which is what the lock-step is for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from defibots.actions import Action
from defibots.chain.addresses import TOKENS
from defibots.chain.events import NewBlock
from defibots.chain.pool_discovery import PoolRef, discover_pools
from defibots.chain.pool_loader import load_v2_pairs, load_v3_pools, pool_models
from defibots.chain.rpc import JsonRpc
from defibots.chain.state_collector import ReplayCollector, recorded_blocks
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise
from defibots.devnet.replica import seeded_pools
from defibots.engine import Engine, Strategy
from defibots.events import Event
from defibots.state.store import MarketState
from defibots.state.uniswap import TRACKED_TOPICS, PoolModel, PoolsUpdated, pool_market, uniswap


def models_at(rpc: JsonRpc, refs: Sequence[PoolRef], block: int) -> dict[str, PoolModel]:
    v3 = [r for r in refs if r.protocol == "v3"]
    return pool_models(
        load_v3_pools(rpc, [r.address for r in v3], [r.tick_spacing for r in v3], block),
        load_v2_pairs(rpc, [r.address for r in refs if r.protocol == "v2"], block),
    )


def price(model: PoolModel) -> tuple[int, ...]:
    if hasattr(model, "sqrt_price_x96"):
        return (model.sqrt_price_x96, model.tick, model.liquidity)  # type: ignore[union-attr]
    return (model.reserve0, model.reserve1)  # type: ignore[union-attr]


@dataclass
class Seen:
    block: int
    head: int
    pools: dict[str, tuple[int, ...]]


class SlowReader(Strategy):
    """Reads the store on every notice, then takes a while (as a real strategy's search does)."""

    def __init__(self, market: MarketState) -> None:
        self.market = market
        self.seen: list[Seen] = []
        self.blocks: list[int] = []

    async def process_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, NewBlock):
            self.blocks.append(event.number)
        if isinstance(event, PoolsUpdated):
            pools = uniswap(self.market).pools
            state = {a: price(pools[a]) for a in event.pools}
            self.seen.append(Seen(event.block_number, self.market.head(), state))
            await asyncio.sleep(0.02)
        return []


async def replay(
    url: str,
    loaded: dict[str, PoolModel],
    refs: Sequence[PoolRef],
    first: int,
    last: int,
    lock_step: bool,
) -> SlowReader:
    market = pool_market(loaded.values())
    reader = SlowReader(market)
    engine: Engine

    async def no_wait() -> None:
        return None

    def settle() -> Awaitable[None]:
        return engine.settled()

    wait: Callable[[], Awaitable[None]] = settle if lock_step else no_wait
    blocks = recorded_blocks(url, first, last, [r.address for r in refs], TRACKED_TOPICS)
    engine = Engine([ReplayCollector(blocks, market, 31337, wait)], [reader], [])
    await engine.start()
    try:
        await engine.wait_idle()
    finally:
        await engine.stop()
    return reader


async def test_lock_step_replay_shows_each_block_as_it_was(devnet: Devnet) -> None:
    rpc = JsonRpc(devnet.http_url)
    refs = discover_pools(rpc, [TOKENS[s].address for s in ("WETH", "USDC", "USDT", "DAI")])
    assert {r.address for r in refs} <= {p.address for p in seeded_pools()} and len(refs) >= 6
    start = devnet.block_number()
    loaded = models_at(rpc, refs, start)
    noise = MarketNoise(devnet.http_url, devnet.accounts[5:], seed=11, pools=[
        p for p in seeded_pools() if p.address in {r.address for r in refs}
    ])  # fmt: skip
    noise.approve_routers()
    assert all(r["status"] == "0x1" for r in noise.wait_mined([noise.random_swap() for _ in range(12)]))
    last = devnet.block_number()

    reader = await replay(devnet.http_url, loaded, refs, start + 1, last, lock_step=True)
    assert reader.blocks == list(range(start + 1, last + 1))
    assert len({s.block for s in reader.seen}) >= 8  # most swaps mined in their own block
    assert all(s.head == s.block for s in reader.seen)  # the store never ran ahead of the notice
    for seen in reader.seen:
        chain = models_at(rpc, refs, seen.block)
        assert seen.pools == {a: price(chain[a]) for a in seen.pools}, seen.block

    racing = await replay(devnet.http_url, loaded, refs, start + 1, last, lock_step=False)
    assert any(s.head > s.block for s in racing.seen)  # a later block's state, seen under an earlier notice
