"""StateCollector on the replica: a reorg deeper than the listener keeps is answered by a reload, and a
reload whose RPC refuses connections is retried with backoff until it succeeds, never stopping the
collector. The models then equal a fresh load from the chain, and keep following it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from defibots.chain.addresses import TOKENS
from defibots.chain.async_rpc import Backoff
from defibots.chain.listener import ChainListener
from defibots.chain.pool_discovery import discover_pools
from defibots.chain.pool_loader import PoolReloader, load_pools
from defibots.chain.rpc import JsonRpc
from defibots.chain.state_collector import StateCollector
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise, swap_call
from defibots.devnet.replica import cache_path, seeded_pools
from defibots.events import Event
from defibots.foundry.accounts import dev_accounts
from defibots.foundry.anvil import AnvilConfig, AnvilNode
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.state.uniswap import TRACKED_TOPICS, PoolModel, PoolsUpdated, pool_market, uniswap

from .tcp_proxy import TcpProxy

SYMBOLS = ("WETH", "USDC", "USDT")
FAST = Backoff(initial=0.02, maximum=0.2)
TIMEOUT = 30.0  # a hang guard, not a timing assertion


@pytest.fixture
def node(replica: Devnet) -> Iterator[AnvilNode]:
    """A replica of our own (reorgs and a refusing proxy must not touch the shared one); `replica` makes
    sure the state cache it starts from is built."""
    with AnvilNode(AnvilConfig(load_state=cache_path())) as anvil:
        yield anvil


def same(a: PoolModel, b: PoolModel) -> bool:
    if isinstance(a, UniswapV3Pool) and isinstance(b, UniswapV3Pool):
        return (a.sqrt_price_x96, a.tick, a.liquidity, dict(a.ticks)) == (
            b.sqrt_price_x96, b.tick, b.liquidity, dict(b.ticks)
        )  # fmt: skip
    return (a.reserve0, a.reserve1) == (b.reserve0, b.reserve1)  # type: ignore[union-attr]


async def until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


async def test_deep_reorg_reload_survives_a_failing_rpc(node: AnvilNode) -> None:
    rpc = JsonRpc(node.http_url)
    refs = discover_pools(rpc, [TOKENS[s].address for s in SYMBOLS])
    states = pool_market(load_pools(rpc, refs).values())
    loaded_at = max(p.block_number for p in uniswap(states).pools.values())
    accounts = dev_accounts(10)
    tracked = [p for p in seeded_pools() if {p.token0, p.token1} <= set(SYMBOLS)]
    noise = MarketNoise(node.http_url, accounts[5:], seed=31, pools=tracked)
    noise.approve_routers()
    proxy = TcpProxy(node.port)  # the reload's RPC; the listener talks to the node directly
    await proxy.resume()
    listener = ChainListener(
        node.ws_url, None, [r.address for r in refs], [list(TRACKED_TOPICS)],
        start_block=loaded_at + 1, reorg_window=3, backoff=FAST,
    )  # fmt: skip
    collector = StateCollector(listener, states, 31337, {"uniswap": PoolReloader(proxy.http_url, refs)})
    collector.reload_backoff = Backoff(initial=0.02, maximum=0.05)
    seen: list[Event] = []

    async def consume() -> None:
        async for event in collector.events():
            seen.append(event)

    def caught_up() -> bool:
        return (
            listener.head is not None
            and listener.head.hash == rpc.call("eth_getBlockByNumber", "latest", False)["hash"].lower()
        )

    def mismatches() -> list[str]:
        fresh = load_pools(rpc, refs)
        return [a for a, model in fresh.items() if not same(uniswap(states).pools[a], model)]

    task = asyncio.create_task(consume())
    try:
        hashes = [noise.random_swap() for _ in range(6)]
        noise.wait_mined(hashes)
        await until(caught_up, "listener behind the chain")
        assert mismatches() == []
        await proxy.cut()  # from now on the reload's RPC refuses connections
        trader = accounts[6]
        replacement: list[Any] = []
        for offset in range(2):
            pool = tracked[offset]
            router, data = swap_call(
                noise.rng, pool, pool.token1, 10 ** TOKENS[pool.token1].decimals * 700, trader.address
            )
            replacement.append(
                [{"from": trader.address, "to": router, "data": data, "gas": hex(400_000)}, offset]
            )
        rpc.call("anvil_reorg", 5, replacement)  # deeper than the 3 blocks the listener keeps
        noise.nonces.clear()
        await until(lambda: collector.reload_failures >= 3, "reload not attempted")
        assert not task.done() and collector.reloads == 0
        await proxy.resume()
        await until(lambda: collector.reloads == 1, "reload never succeeded")
        await until(caught_up, "listener behind the chain after the reorg")
        reorg_updates = [e for e in seen if isinstance(e, PoolsUpdated) and e.reorg]
        assert len(reorg_updates) == 1 and set(reorg_updates[0].pools) == set(uniswap(states).pools)
        assert mismatches() == []
        # and the reloaded models keep following the chain
        noise.wait_mined([noise.random_swap() for _ in range(3)])
        await until(caught_up, "listener behind the chain after more swaps")
        await asyncio.sleep(0.1)  # logs of the last block may trail its header
        assert mismatches() == []
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if proxy.server is not None:
            await proxy.cut()
