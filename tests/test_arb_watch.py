"""The arbitrage watcher end to end on the replica: a dislocating swap opens a gap; in the next block the
watcher executes it through the executor, and the realized profit equals the predicted one to the wei."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from defibots.arb_watch import ArbWatcher, WatchConfig
from defibots.chain.addresses import TOKENS
from defibots.chain.calldata import calldata
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise
from defibots.execution.executor_client import ExecutorClient
from defibots.journal import Journal
from defibots.strategies.amm_arb import ArbParams

WETH, USDC = TOKENS["WETH"].address, TOKENS["USDC"].address


async def _until(predicate: object, timeout_s: float) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def test_dislocation_is_executed_next_block_with_predicted_profit(devnet: Devnet, tmp_path: Path) -> None:
    searcher = devnet.accounts[0]
    client, _ = ExecutorClient.deploy(devnet.w3, searcher, searcher.address)
    config = WatchConfig(
        rpc_url=devnet.http_url, ws_url=devnet.ws_url, executor=client.address,
        journal_path=tmp_path / "journal.sqlite", tokens=("WETH", "USDC", "USDT"),
        params=ArbParams(base_token=WETH, max_hops=2), shadow=False,
    )  # fmt: skip
    watcher = ArbWatcher(config, searcher)
    assert watcher.strategy.ranked == [] or watcher.strategy.ranked[0].net_profit <= 0

    trader = devnet.accounts[2]
    noise = MarketNoise(devnet.http_url, [trader], seed=1)
    noise.approve_routers()

    async def scenario() -> None:
        task = asyncio.create_task(watcher.run(60))
        await asyncio.sleep(0.5)
        # 300 WETH into the V2 WETH/USDC pair: V2 is now cheap in WETH terms against the V3 pools
        sig = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
        swap = calldata(sig, 300 * 10**18, 0, [WETH, USDC], trader.address, 2**40)
        receipts = noise.wait_mined([noise.send(trader, "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D", swap)])
        dislocation.append(int(receipts[0]["blockNumber"], 16))
        await _until(lambda: watcher.executor.stats.included >= 1, 30)
        await watcher.engine.stop()
        await task

    dislocation: list[int] = []
    asyncio.run(scenario())
    stats = watcher.executor.stats
    assert stats.included >= 1, stats
    with Journal(tmp_path / "journal.sqlite") as journal:
        opportunity = journal.opportunities(limit=1000)[-1]
        sims = [s for s in journal.simulations(limit=1000) if s.opportunity_id == opportunity.id]
        sends = journal.sends(limit=1000)
        pnl = journal.pnl(limit=1000)
        receipts = journal.receipts(limit=1000)
    first = pnl[-1]
    assert first.status == "included"
    assert sims and sims[0].success
    assert sends and receipts and receipts[-1].status == 1
    # included in the block right after the dislocation
    assert receipts[-1].block_number == dislocation[0] + 1
    # realized (executor's WETH balance change) equals the model's prediction, to the wei
    assert first.gross_profit == int(opportunity.details["gross_profit"]) > 0
    assert first.net_profit == first.gross_profit - first.gas_cost
