"""Latency of simulating a 2-tx bundle, per backend: median and p99 in milliseconds.

Backends: the private anvil fork (default), in-place on a FIFO anvil, the local relay's eth_callBundle over
HTTP (signature check included), and a raw eth_simulateV1 call for comparison (not used by defibots: on
anvil it needs a base-fee override, has no parent hash and hashes unsigned calls, so it is not exact).
Usage: python scripts/bench_bundles.py [iterations]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

from eth_account import Account

from defibots.devnet.anvil import AnvilConfig, AnvilNode
from defibots.devnet.node import dev_accounts
from defibots.devnet.relay import LocalRelay
from defibots.execution.bundles import Bundle, FeeDefaults, TxRequest, sign_request
from defibots.execution.node_rpc import NodeRPC
from defibots.execution.relay_client import RelayClient
from defibots.execution.simulation import BUILDER_COINBASE, AnvilSimulator


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
        async with NodeRPC(node.http_url) as rpc:
            await measure("eth_simulateV1_raw", iterations, lambda: rpc.call("eth_simulateV1", *params))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
