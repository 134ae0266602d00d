"""Public-tx executor: decision -> broadcast latency in milliseconds (p50, p99) on the devnet replica.

From the action's "decided" stamp to its "sent" stamp, i.e. through route building, the one simulation
batch (eth_call + eth_estimateGas + eth_createAccessList), local nonce and fees, signing, and the node's
answer to eth_sendRawTransaction. The receipt is not waited for (the tracker does that, off this path).

One real opportunity (a dumped V2 WETH/USDC pair against the V3 pools, found by ArbFinder) is sent again
and again with mining off; after each broadcast the transaction is dropped from the pool and its nonce
handed back, so every iteration simulates and sends against the same state.
Usage: python scripts/bench_executor.py [iterations]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from defibots.actions import ExecutorTxAction, Opportunity
from defibots.chain.addresses import TOKENS
from defibots.chain.calldata import calldata
from defibots.chain.pool_discovery import discover_pools
from defibots.chain.pool_loader import load_pools
from defibots.chain.rpc import JsonRpc
from defibots.devnet.node import Devnet, DevnetOptions
from defibots.execution.executor_client import ExecutorClient
from defibots.execution.public_tx import PublicTxExecutor
from defibots.journal import Journal
from defibots.state.uniswap import pool_market, uniswap
from defibots.strategies.amm_arb import ArbFinder, ArbParams

WETH, USDC = TOKENS["WETH"].address, TOKENS["USDC"].address
V2_ROUTER = "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"


def opportunity(devnet: Devnet) -> Opportunity:
    trader = devnet.accounts[2].address
    devnet.w3.eth.send_transaction(
        {"from": trader, "to": WETH, "data": calldata("approve(address,uint256)", V2_ROUTER, 2**256 - 1)}  # type: ignore[typeddict-item]
    )
    swap = calldata(
        "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
        300 * 10**18, 0, [WETH, USDC], trader, 2**40,
    )  # fmt: skip
    devnet.w3.eth.send_transaction({"from": trader, "to": V2_ROUTER, "data": swap})  # type: ignore[typeddict-item]
    rpc = JsonRpc(devnet.http_url)
    states = pool_market(load_pools(rpc, discover_pools(rpc, [WETH, USDC])).values())
    (opp, *_) = ArbFinder(uniswap(states).pools, ArbParams(base_token=WETH, max_hops=2)).evaluate_all()
    head = devnet.w3.eth.get_block("latest")
    tip = 10**9
    cap = 2 * int(head["baseFeePerGas"]) + tip
    return replace(
        opp, max_fee_per_gas=cap, priority_fee_per_gas=tip, gas_cost=opp.to_base(opp.gas * cap),
        block_number=int(head["number"]),
    )  # fmt: skip


async def bench(devnet: Devnet, client: ExecutorClient, opp: Opportunity, iterations: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp, Journal(Path(tmp) / "j.sqlite") as journal:
        ex = PublicTxExecutor(client, journal, devnet.chain_id, shadow=False, close_settle_s=0)
        samples: list[float] = []
        for i in range(iterations + 5):
            action = ExecutorTxAction(opportunity=opp)
            action.stamps.mark("decided")
            await ex.execute(action)
            if not action.stamps.sent:
                raise SystemExit(f"iteration {i}: not sent ({journal.simulations(limit=1)})")
            if i >= 5:  # warm-up: HTTP keep-alive, the nonce seed
                samples.append((action.stamps.sent - action.stamps.decided) / 1e6)
            (nonce,) = ex.tracker.pending
            ex.tracker.pending.clear()
            devnet.rpc("anvil_dropAllTransactions")
            ex.nonces.release(nonce)
        await ex.close()
    return samples


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with Devnet.start(DevnetOptions()) as devnet:
        owner, bot = devnet.accounts[0], devnet.accounts[1]
        deployed, _ = ExecutorClient.deploy(devnet.w3, owner, owner.address, [bot.address])
        client = ExecutorClient(devnet.w3, deployed.address, bot)
        opp = opportunity(devnet)
        devnet.rpc("evm_setAutomine", False)
        samples = sorted(asyncio.run(bench(devnet, client, opp, iterations)))
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(
        f"public tx decision -> broadcast ({len(samples)} sends, devnet replica): "
        f"p50 {statistics.median(samples):.2f} ms, p99 {p99:.2f} ms, max {samples[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
