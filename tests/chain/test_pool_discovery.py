"""Pool discovery: the factories' answers for a token set, and the creation logs as markets appear."""

from __future__ import annotations

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.pool_address import v2_pair_address, v3_pool_address
from defibots.chain.pool_discovery import discover_pools, pools_created
from defibots.chain.rpc import JsonRpc
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise
from defibots.devnet.replica import seeded_pools


def test_discover_finds_every_seeded_pool(replica: Devnet) -> None:
    found = discover_pools(JsonRpc(replica.http_url), [t.address for t in A.TOKENS.values()])
    assert {(p.protocol, p.address, p.fee) for p in found} == {
        (p.protocol, p.address, p.fee) for p in seeded_pools()
    }
    only_weth_usdc = discover_pools(
        JsonRpc(replica.http_url), [A.TOKENS["WETH"].address, A.TOKENS["USDC"].address]
    )
    assert len(only_weth_usdc) == 3


def test_creation_logs_report_new_pools(devnet: Devnet) -> None:
    rpc = JsonRpc(devnet.http_url)
    start = devnet.block_number() + 1
    creator = devnet.accounts[3]
    noise = MarketNoise(devnet.http_url, [creator], seed=1)
    weth, usdc, dai, wbtc = (A.TOKENS[s].address for s in ("WETH", "USDC", "DAI", "WBTC"))
    create_pool = calldata("createPool(address,address,uint24)", weth, usdc, 10_000)
    create_pair = calldata("createPair(address,address)", dai, wbtc)
    hashes = [
        noise.send(creator, A.UNISWAP_V3_FACTORY, create_pool, 6_000_000),
        noise.send(creator, A.UNISWAP_V2_FACTORY, create_pair, 3_000_000),
    ]
    assert all(r["status"] == "0x1" for r in noise.wait_mined(hashes))
    created = pools_created(rpc, start, devnet.block_number())
    assert {(p.protocol, p.address, p.fee) for p in created} == {
        ("v3", v3_pool_address(weth, usdc, 10_000), 10_000),
        ("v2", v2_pair_address(dai, wbtc), 3000),
    }
    assert pools_created(rpc, start, devnet.block_number(), tokens=[weth, usdc])[0].fee == 10_000
    # the factories agree: a fresh discovery now includes both
    fresh = {p.address for p in discover_pools(rpc, [weth, usdc, dai, wbtc])}
    assert {p.address for p in created} <= fresh
