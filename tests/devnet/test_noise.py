"""Market noise sends real, successful router swaps that move the replica's pools."""

from __future__ import annotations

from defibots.chain.pool_loader import load_v2_pairs
from defibots.chain.rpc import JsonRpc
from defibots.devnet.node import Devnet
from defibots.devnet.noise import ROUTERS, MarketNoise
from defibots.devnet.replica import seeded_pools


def test_noise_swaps_succeed_through_every_router(devnet: Devnet) -> None:
    rpc = JsonRpc(devnet.http_url)
    pairs = [p.address for p in seeded_pools() if p.protocol == "v2"]
    before = load_v2_pairs(rpc, pairs)
    noise = MarketNoise(devnet.http_url, devnet.accounts[5:], seed=11)
    noise.approve_routers()
    hashes = [noise.random_swap() for _ in range(60)]
    receipts = noise.wait_mined(hashes)
    assert [r["status"] for r in receipts] == ["0x1"] * 60
    assert set(noise.stats.by_router) == set(ROUTERS)
    after = load_v2_pairs(rpc, pairs)
    assert sum(a.reserve0 != b.reserve0 for a, b in zip(after, before, strict=True)) >= 3
