"""pool_imbalance on the replica: a real router swap moves the V2 WETH/USDC pair away from the V3 pools;
the running job journals an alert naming the two pools with the gap the chain's own prices give, and a
swap that moves the pair less than the threshold journals none."""

from __future__ import annotations

import asyncio
import json
import time
from fractions import Fraction
from pathlib import Path

from defibots.chain.addresses import TOKENS, UNISWAP_V2_ROUTER02
from defibots.chain.calldata import calldata
from defibots.chain.rpc import JsonRpc
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise
from defibots.jobs.runner import AlertJournal, JobConfig, StrategyJob
from defibots.journal import Journal
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.strategies.pool_imbalance import PoolImbalanceStrategy
from defibots.strategies.registry import discover

WETH, USDC = TOKENS["WETH"].address, TOKENS["USDC"].address
SWAP_EXACT_IN = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"


def chain_price(rpc: JsonRpc, pool: str, v2: bool) -> Fraction:
    """token1 per token0 straight from the contract: getReserves() or slot0().sqrtPriceX96."""
    selector = "0x0902f1ac" if v2 else "0x3850c7bd"
    out = bytes.fromhex(rpc.call("eth_call", {"to": pool, "data": selector}, "latest")[2:])
    if v2:
        return Fraction(int.from_bytes(out[32:64], "big"), int.from_bytes(out[0:32], "big"))
    return Fraction(int.from_bytes(out[0:32], "big") ** 2, 2**192)


def swap_weth_into_v2(devnet: Devnet, weth: int) -> int:
    trader = devnet.accounts[2]
    noise = MarketNoise(devnet.http_url, [trader], seed=1)
    noise.approve_routers()
    data = calldata(SWAP_EXACT_IN, weth, 0, [WETH, USDC], trader.address, 2**40)
    (receipt,) = noise.wait_mined([noise.send(trader, UNISWAP_V2_ROUTER02, data)])
    assert receipt["status"] == "0x1"
    return int(receipt["blockNumber"], 16)


def run_with_swap(devnet: Devnet, tmp_path: Path, min_gap_bps: int, weth: int) -> tuple[StrategyJob, int]:
    spec = discover().get("pool_imbalance")
    settings = spec.parse_settings({"tokens": ["WETH", "USDC"], "min_gap_bps": min_gap_bps})
    config = JobConfig(devnet.http_url, devnet.ws_url, tmp_path / "journal.sqlite", shadow=True)
    job = StrategyJob(spec, settings, config)
    strategy = job.strategy
    assert isinstance(strategy, PoolImbalanceStrategy)
    block: list[int] = []

    async def scenario() -> None:
        task = asyncio.create_task(job.run(60))
        await asyncio.sleep(0.5)
        block.append(await asyncio.to_thread(swap_weth_into_v2, devnet, weth))
        deadline = time.monotonic() + 20
        while strategy.last_block < block[0] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # let the executor journal what the strategy decided
        await job.engine.stop()
        await task

    asyncio.run(scenario())
    assert strategy.last_block >= block[0], "the job never saw the swap's block"
    return job, block[0]


def weth_usdc_pools(job: StrategyJob) -> tuple[UniswapV2Pair, list[UniswapV3Pool]]:
    pools = [p for p in job.pools.pools.values() if {p.token0, p.token1} == {WETH, USDC}]
    (v2,) = [p for p in pools if isinstance(p, UniswapV2Pair)]
    return v2, [p for p in pools if isinstance(p, UniswapV3Pool)]


def test_a_swap_past_the_threshold_is_alerted_with_the_chains_gap(devnet: Devnet, tmp_path: Path) -> None:
    job, block = run_with_swap(devnet, tmp_path, min_gap_bps=30, weth=300 * 10**18)
    v2, v3s = weth_usdc_pools(job)
    assert v3s
    with Journal(tmp_path / "journal.sqlite") as journal:
        alerts = [e for e in journal.errors(limit=1000) if e.source == "strategy:pool_imbalance"]
    assert {a.kind for a in alerts} == {"pool_imbalance"}
    executor = job.executors[0]
    assert isinstance(executor, AlertJournal) and executor.stats.recorded == len(alerts)
    rpc = JsonRpc(devnet.http_url)
    v2_price = chain_price(rpc, v2.address, v2=True)
    # one alert per V3 pool against the moved V2 pair, at the swap's block, none for V3 vs V3
    assert len(alerts) == len(v3s)
    for alert in alerts:
        assert alert.block_number == block
        details = json.loads(alert.payload or "{}")
        pools = {details["cheap_pool"], details["rich_pool"]}
        assert v2.address in pools
        (v3_address,) = pools - {v2.address}
        v3_price = chain_price(rpc, v3_address, v2=False)
        cheap, rich = sorted([v2_price, v3_price])
        assert Fraction(details["cheap_price"]) == cheap and Fraction(details["rich_price"]) == rich
        gap = (rich - cheap) * 10_000 / cheap
        assert gap > 30
        assert Fraction(details["gap_bps"]) == Fraction(int(gap * 10**6), 10**6)  # exact, 6 places
        assert v2.address[:10] in alert.message and v3_address[:10] in alert.message
        assert details["pair"] == "USDC/WETH"


def test_a_swap_under_the_threshold_is_not_alerted(devnet: Devnet, tmp_path: Path) -> None:
    job, block = run_with_swap(devnet, tmp_path, min_gap_bps=50, weth=2 * 10**18)
    v2, _ = weth_usdc_pools(job)
    with Journal(tmp_path / "journal.sqlite") as journal:
        assert [e for e in journal.errors(limit=1000) if e.source == "strategy:pool_imbalance"] == []
    strategy = job.strategy
    assert isinstance(strategy, PoolImbalanceStrategy)
    # the strategy did re-price the moved pair: a real gap, the chain's, below 50 bps
    moved = [g for g in strategy.gaps if v2.address in (g.cheap.address, g.rich.address)]
    assert moved and all(g.block_number == block for g in moved)
    rpc = JsonRpc(devnet.http_url)
    for g in moved:
        assert 0 < g.gap_bps < 50
        assert chain_price(rpc, v2.address, v2=True) in (g.cheap_price, g.rich_price)
