"""Bundle latencies in milliseconds (median and p99).

1. Simulating a 2-tx bundle, per backend: the private anvil fork (default), in-place on a FIFO anvil, the
   local relay's eth_callBundle over HTTP (signature check included), and a raw eth_simulateV1 call for
   comparison (the liquidation executor's default, through `SimulateV1Simulator`, which adds the base-fee
   override, transfer tracing and the nonce and fee-cap checks anvil's simulate skips).
2. The backrun path's trigger-to-sent latency on the devnet replica: from the PendingSwap's receive stamp
   (the mempool watcher decoded the victim) to every relay's eth_sendBundle answer, through decide
   (prediction + arbitrage), sign, bundle simulation on the private fork, and send. The local relay runs in
   its own process (`defibots devnet relay`) building a block every second; one victim swap is sent early in
   each slot, alternating direction, pool and router.
Usage: python scripts/bench_bundles.py [iterations] [backrun_iterations]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

from eth_account import Account

from defibots.chain.async_rpc import HttpRpc
from defibots.devnet.relay import LocalRelay
from defibots.execution.bundles import Bundle, FeeDefaults, TxRequest, sign_request
from defibots.execution.relay_client import RelayClient
from defibots.execution.simulation import BUILDER_COINBASE, AnvilSimulator
from defibots.foundry.accounts import dev_accounts
from defibots.foundry.anvil import AnvilConfig, AnvilNode


async def measure(name: str, iterations: int, run: Callable[[], Awaitable[object]]) -> None:
    await run()  # warm-up: fork start-up, connection set-up, lazy state fetches
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        await run()
        samples.append((time.perf_counter() - start) * 1000.0)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    print(f"{name:<24} median_ms {statistics.median(samples):8.3f}  p99_ms {p99:8.3f}  n {iterations}")


async def main(iterations: int) -> None:
    accounts = dev_accounts(3)
    with AnvilNode(AnvilConfig(accounts=3, extra_args=["--no-mining"])) as node:
        base = int(node.rpc("eth_getBlockByNumber", "pending", False)["baseFeePerGas"], 16)
        fees = FeeDefaults(base)
        t1 = sign_request(
            accounts[1], TxRequest(to=accounts[2].address, value=10**17), 31337, 0, 21_000, fees
        )
        t2 = sign_request(accounts[2], TxRequest(to=BUILDER_COINBASE, value=10**15), 31337, 0, 21_000, fees)
        bundle = Bundle((t1, t2), 1)

        async with AnvilSimulator(node.http_url) as forked:
            await measure("anvil_fork", iterations, lambda: forked.simulate(bundle))
        async with AnvilSimulator(node.http_url, fork=False) as in_place:
            await measure("anvil_in_place", iterations, lambda: in_place.simulate(bundle))

        relay = await LocalRelay(node.http_url, block_time=None).start()
        client = RelayClient(relay.url, Account.create(), rate_limits={"eth_callBundle": 10**9})
        try:
            await measure("relay_eth_callBundle", iterations, lambda: client.call_bundle(bundle))
        finally:
            await client.close()
            await relay.stop()

        calls = [
            {
                "from": t.sender,
                "to": t.to,
                "value": hex(t.value),
                "gas": hex(t.gas),
                "nonce": hex(t.nonce),
                "maxFeePerGas": hex(t.max_fee_per_gas),
                "maxPriorityFeePerGas": hex(t.max_priority_fee_per_gas),
            }
            for t in bundle.txs
        ]
        params = [
            {
                "blockStateCalls": [
                    {
                        "blockOverrides": {"baseFeePerGas": hex(base), "feeRecipient": BUILDER_COINBASE},
                        "calls": calls,
                    }
                ],
                "validation": True,
                "traceTransfers": True,
            },
            "latest",
        ]
        async with HttpRpc(node.http_url) as rpc:
            await measure("eth_simulateV1_raw", iterations, lambda: rpc.call("eth_simulateV1", params))


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


V2_SWAP = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
V3_SWAP = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"


def victim_swap(rng: random.Random, i: int, user: str) -> tuple[str, str]:
    """(router, calldata) of a $0.4-1.2M WETH/USDC swap: direction alternates, router and pool vary."""
    from defibots.chain.addresses import TOKENS, UNISWAP_V2_ROUTER02, UNISWAP_V3_SWAP_ROUTER
    from defibots.chain.calldata import calldata

    weth, usdc = TOKENS["WETH"].address, TOKENS["USDC"].address
    usd = rng.uniform(400_000, 1_200_000)
    path, amount = (
        ([weth, usdc], int(usd / 3000 * 10**18)) if i % 2 == 0 else ([usdc, weth], int(usd * 10**6))
    )
    if rng.random() < 0.5:
        return UNISWAP_V2_ROUTER02, calldata(V2_SWAP, amount, 0, path, user, 2**40)
    fee = rng.choice([500, 3000])
    return UNISWAP_V3_SWAP_ROUTER, calldata(V3_SWAP, (path[0], path[1], fee, user, 2**40, amount, 0, 0))


async def backrun_trigger_to_sent(iterations: int) -> None:
    """Victims in the public mempool -> BackrunWatcher -> bundles to a relay in another process."""
    import tempfile
    from pathlib import Path

    from defibots.chain.addresses import TOKENS
    from defibots.devnet.node import Devnet, DevnetOptions
    from defibots.devnet.noise import MarketNoise
    from defibots.devnet.relay_process import relay_process
    from defibots.execution.executor_client import ExecutorClient
    from defibots.jobs.backrun_watch import BackrunConfig, BackrunWatcher
    from defibots.strategies.amm_arb import ArbParams

    weth = TOKENS["WETH"].address
    rng = random.Random(11)
    with Devnet.start(DevnetOptions()) as devnet, tempfile.TemporaryDirectory() as tmp:
        searcher, users = devnet.accounts[0], devnet.accounts[2:6]
        client, _ = ExecutorClient.deploy(devnet.w3, searcher, searcher.address)
        noise = MarketNoise(devnet.http_url, users, seed=5)
        noise.approve_routers()
        with relay_process(devnet.http_url, block_time=1.0) as relay_url:
            config = BackrunConfig(
                rpc_url=devnet.http_url, ws_url=devnet.ws_url, executor=client.address,
                journal_path=Path(tmp) / "journal.sqlite", tokens=("WETH", "USDC", "USDT", "DAI"),
                params=ArbParams(base_token=weth, max_hops=2, priority_fee=0, builder_share_bps=5000),
                relay_urls=(relay_url,), shadow=False,
            )  # fmt: skip
            watcher = BackrunWatcher(config, searcher, Account.create())
            task = asyncio.create_task(watcher.run())
            ex, strategy = watcher.executor.stats, watcher.strategy

            async def until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
                deadline = time.monotonic() + timeout_s
                while not predicate() and time.monotonic() < deadline:
                    if task.done():
                        await task  # the watcher stopped: show why
                        raise RuntimeError("the backrun watcher stopped")
                    await asyncio.sleep(0.005)

            def head() -> int:
                return strategy.head.number if strategy.head else 0

            def handled() -> int:
                return ex.sent + ex.stale + ex.refused + ex.send_failed + strategy.stats.no_opportunity

            try:
                await until(lambda: watcher.pool_collector.blocks_seen >= 1)
                for i in range(iterations):
                    current = head()
                    await until(lambda current=current: head() > current)
                    await asyncio.sleep(0.05)  # early in the slot, after the block's logs
                    user = users[i // 2 % len(users)]  # each user sells WETH, then buys it back
                    router, data = victim_swap(rng, i, user.address)
                    before = handled()
                    noise.send(user, router, data, gas=400_000)
                    await until(lambda before=before: handled() > before, 2.0)
                await asyncio.sleep(1.5)  # the last bundle's block
                await watcher.executor.wait_settled()
            finally:
                await watcher.engine.stop()
                await task
    samples = ex.trigger_to_sent_ms
    if not samples:
        print(f"backrun: no bundle sent ({ex}; strategy {strategy.stats})")
        return
    p50, p99 = percentiles(samples)
    decide = statistics.median(x.decide_ms for x in ex.latency)
    simulate = statistics.median(x.simulate_ms for x in ex.latency)
    send = statistics.median(x.send_ms for x in ex.latency)
    print(
        f"{'backrun_trigger_to_sent':<24} median_ms {p50:8.3f}  p99_ms {p99:8.3f}  n {len(samples)}  "
        f"(p50 decide {decide:.2f}, simulate {simulate:.2f}, send {send:.2f}; "
        f"included {ex.included}, stale {ex.stale}, no opportunity {strategy.stats.no_opportunity})"
    )


if __name__ == "__main__":
    simulation_iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    backrun_iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    if simulation_iterations:
        asyncio.run(main(simulation_iterations))
    if backrun_iterations:
        asyncio.run(backrun_trigger_to_sent(backrun_iterations))
