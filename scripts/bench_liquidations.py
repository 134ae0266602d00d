"""Liquidation figures for the README, on the devnet replica with many real Aave borrowers.

1. Seeding: N borrowers (default 10,000) supply WETH or WBTC and borrow USDC, USDT or DAI on the replica's
   Aave v3.6 Pool, each at a random health factor between just above its floor and 1.6: real
   transactions, mined in large blocks.
2. The whole `watch liquidations` job (store with every holder indexed from the token logs, listener,
   mempool watcher, strategy, executor) runs with --execute against the local relay. Each round the
   feed updater puts a WETH dip in the mempool mid-slot (2% below the start, 0.1% deeper each round;
   the next block brings the price back, as rivals would clear what we leave); the job backruns it with
   a bundle [update, liquidations...] simulated by eth_simulateV1 on the devnet node. The relay runs in
   its own process (`defibots devnet relay`), building a block every second stamped 12 s after its
   parent. Printed: pending update received by the watcher -> bundle accepted by the relay (every relay
   answered), p50 and p99.
3. Health-factor recompute after one price update, on the job's own book of N accounts: a mined update
   (re-value the asset's holders and list those under 1) and a pending one (predict without changing the
   book: a bisection of the critical-price index; and, for comparison, valuing every holder, as when another
   asset's price moved since the last block; plus what rebuilding the index after a block costs).
Prints numbers; asserts nothing.

Usage: python scripts/bench_liquidations.py [borrowers] [rounds]
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from eth_account import Account
from eth_utils import keccak, to_checksum_address
from rich.progress import Progress
from web3 import HTTPProvider, Web3

from defibots.chain.aave_addresses import aave_v3_ethereum
from defibots.chain.addresses import TOKENS
from defibots.chain.calldata import calldata
from defibots.chain.rpc import JsonRpc
from defibots.devnet.aave_replica import send_price_update, usd_price_8dec
from defibots.devnet.node import Devnet, DevnetOptions
from defibots.devnet.relay_process import relay_process
from defibots.devnet.replica import DEPLOYER
from defibots.execution.liquidator import LiquidatorClient
from defibots.jobs.liquidation_watch import LiquidationWatchConfig, LiquidationWatcher
from defibots.state.aave import account_positions
from defibots.strategies.liquidations import LiquidationParams

COLLATERAL = {"WETH": (8300, 8050, 0.3, 5.0), "WBTC": (7800, 7300, 0.01, 0.2)}  # LT, LTV, min, max (tokens)
DEBTS = ("USDC", "USDT", "DAI")
CHUNK = 400  # transactions per mined block while seeding
WETH = TOKENS["WETH"].address
DIP_START_PERMILLE = 20  # the first dip is 2.0%, each next one 0.1% deeper
SLOT = 12  # chain seconds per block: the relay stamps blocks so, and plans target it


def borrower(i: int) -> str:
    return to_checksum_address(keccak(text=f"defibots bench liquidations borrower {i}")[12:])


def seed(url: str, n: int, rng: random.Random, progress: Progress) -> None:
    """N real borrowers: the deployer supplies on their behalf, each borrows itself (impersonated)."""
    rpc, pool = JsonRpc(url, timeout=600), aave_v3_ethereum().pool
    rpc.call("anvil_autoImpersonateAccount", True)
    rpc.call("evm_setAutomine", False)
    rpc.call("evm_setBlockGasLimit", hex(10**10))
    plans = []
    for i in range(n):
        symbol = "WETH" if rng.random() < 0.6 else "WBTC"
        lt, ltv, low, high = COLLATERAL[symbol]
        amount = int(rng.uniform(low, high) * 10 ** TOKENS[symbol].decimals)
        debt = rng.choice(DEBTS)
        hf = rng.uniform(lt / ltv + 0.005, 1.6)
        value = amount * usd_price_8dec(symbol) / 10 ** TOKENS[symbol].decimals
        units = int(value * lt / 10_000 / hf * 10 ** TOKENS[debt].decimals / usd_price_8dec(debt))
        plans.append((borrower(i), symbol, amount, debt, units))
    weth = sum(p[2] for p in plans if p[1] == "WETH")
    wbtc = sum(p[2] for p in plans if p[1] == "WBTC")
    rpc.call("anvil_setBalance", DEPLOYER, hex(weth + 10**24))
    nonce = int(rpc.call("eth_getTransactionCount", DEPLOYER, "latest"), 16)
    setup = [
        (WETH, calldata("deposit()"), weth),
        (TOKENS["WBTC"].address, calldata("mint(address,uint256)", DEPLOYER, wbtc), 0),
        (WETH, calldata("approve(address,uint256)", pool, 2**256 - 1), 0),
        (TOKENS["WBTC"].address, calldata("approve(address,uint256)", pool, 2**256 - 1), 0),
    ]
    txs = [_tx(DEPLOYER, to, data, nonce + k, value) for k, (to, data, value) in enumerate(setup)]
    nonce += len(setup)
    supply = "supply(address,uint256,address,uint16)"
    for k, (who, symbol, amount, _, _) in enumerate(plans):
        txs.append(_tx(DEPLOYER, pool, calldata(supply, TOKENS[symbol].address, amount, who, 0), nonce + k))
    borrow = "borrow(address,uint256,uint256,uint16,address)"
    for who, _, _, debt, units in plans:
        txs.append(_tx(who, pool, calldata(borrow, TOKENS[debt].address, units, 2, 0, who), 0))
    rpc.batch([("anvil_setBalance", [who, hex(10**18)]) for who, *_ in plans])
    task = progress.add_task(f"seeding {n:,} borrowers", total=len(txs))
    failed = 0
    for start in range(0, len(txs), CHUNK):
        part = txs[start : start + CHUNK]
        rpc.batch([("eth_sendTransaction", [tx]) for tx in part])
        rpc.call("evm_mine")
        receipts = rpc.call("eth_getBlockReceipts", "latest")
        failed += sum(int(r["status"], 16) != 1 for r in receipts) + len(part) - len(receipts)
        progress.advance(task, len(part))
    rpc.call("anvil_autoImpersonateAccount", False)
    rpc.call("evm_setAutomine", True)
    if failed:
        raise SystemExit(f"seeding: {failed} transactions failed")


def _tx(sender: str, to: str, data: str, nonce: int, value: int = 0) -> dict[str, str]:
    return {"from": sender, "to": to, "data": data, "nonce": hex(nonce), "value": hex(value),
            "gas": hex(600_000)}  # fmt: skip


async def race(url: str, ws: str, relay_url: str, rounds: int, progress: Progress) -> LiquidationWatcher:
    """Rounds of [block -> pending update -> our bundle]; returns the job with its stats and book."""
    searcher = Account.from_key(keccak(text="defibots bench liquidations searcher"))
    JsonRpc(url).call("anvil_setBalance", searcher.address, hex(10**21))
    client = LiquidatorClient.deploy(Web3(HTTPProvider(url)), searcher)
    JsonRpc(url).call("anvil_setBalance", client.address, hex(10**19))
    loading = progress.add_task("indexing every Aave holder (watcher start-up)", total=None)
    config = LiquidationWatchConfig(
        rpc_url=url, ws_url=ws, liquidator=client.address, journal_path=Path(tempfile.mkdtemp()) / "j.sqlite",
        relay_urls=(relay_url,), params=LiquidationParams(weth=WETH, block_time=SLOT), shadow=False,
    )  # fmt: skip
    watcher = LiquidationWatcher(config, searcher, Account.create())
    progress.update(loading, total=1, completed=1)
    job = asyncio.create_task(watcher.run(None))
    ex, st = watcher.executor.stats, watcher.strategy.stats

    async def until(predicate: Callable[[], bool], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate() and time.monotonic() < deadline:
            if job.done():
                await job  # the watcher stopped: show why
                raise RuntimeError("the liquidation watcher stopped")
            await asyncio.sleep(0.005)

    start_price = usd_price_8dec("WETH")
    task = progress.add_task(f"{rounds} pending WETH dips", total=rounds)
    try:
        for k in range(rounds):
            head = watcher.strategy.head.number
            await until(lambda head=head: watcher.strategy.head.number > head, 5.0)
            await asyncio.sleep(0.45)  # mid-slot: after the block's own bundles and the fork's warm-up
            dip = start_price * (1000 - DIP_START_PERMILLE - k) // 1000
            done = ex.sent + ex.stale + ex.refused + ex.send_failed + ex.update_reverts
            seen, bundles = st.pending_updates, st.bundles
            await asyncio.to_thread(send_price_update, url, "WETH", dip)

            def handled(done: int = done, seen: int = seen, bundles: int = bundles) -> bool:
                settled = ex.sent + ex.stale + ex.refused + ex.send_failed + ex.update_reverts
                return settled > done or (st.pending_updates > seen and st.bundles == bundles)

            await until(handled, 2.0)
            head = watcher.strategy.head.number
            await until(lambda head=head: watcher.strategy.head.number > head, 5.0)
            # the dip is over: the price is back, and what we did not liquidate is healthy again
            await asyncio.to_thread(send_price_update, url, "WETH", start_price)
            progress.advance(task)
    finally:
        await watcher.engine.stop()
        await job
    return watcher


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def recompute(watcher: LiquidationWatcher) -> None:
    """What the strategy runs on a price update, on its own book after the race."""
    strategy, book = watcher.strategy, watcher.strategy.book
    price = watcher.aave.reserve(WETH).price
    mined, pending = [], []
    for i in range(50):
        price = price * (99 if i % 2 else 101) // 100
        start = time.perf_counter()
        strategy.recompute_price(WETH, price)  # re-value the holders, mark those near 1, list those under
        mined.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        book.liquidatable_at(WETH, price * 999 // 1000)  # a pending update: predicted, book unchanged
        pending.append((time.perf_counter() - start) * 1000)
    print(
        f"hf_recompute_mined     p50_ms {statistics.median(mined):7.2f}  max_ms {max(mined):7.2f}  "
        f"accounts {len(book.accounts()):,}  WETH holders {len(book.holders(WETH)):,}"
    )
    print(f"hf_predict_pending     p50_ms {statistics.median(pending):7.2f}  max_ms {max(pending):7.2f}  "
          f"(indexed: critical prices bisected)")  # fmt: skip
    usdc = TOKENS["USDC"].address
    book.set_price(usdc, watcher.aave.reserve(usdc).price + 1)  # another asset moves: WETH's index drops
    start = time.perf_counter()
    book.liquidatable_at(WETH, price)
    scan = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    book.reindex()
    rebuild = (time.perf_counter() - start) * 1000
    print(f"hf_predict_unindexed   ms {scan:7.2f}  (every holder valued)")
    print(f"hf_reindex_all_assets  ms {rebuild:7.2f}  (after a block, off the hot path)")
    moved = sorted(strategy.near)[:1_000]  # a block's interest re-values the accounts near 1
    at = strategy.next_time()
    for user in moved:
        account = watcher.aave.account(user)
        assert account is not None
        book.add(user, account_positions(watcher.aave, user), at, watcher.aave.e_mode(account.e_mode))
    start = time.perf_counter()
    book.reindex()
    moved_ms = (time.perf_counter() - start) * 1000
    print(f"hf_reindex_moved       ms {moved_ms:7.2f}  ({len(moved):,} accounts moved)")


def main(n: int, rounds: int) -> None:
    rng = random.Random(11)
    with Devnet.start(DevnetOptions()) as devnet, Progress() as progress:
        started = time.perf_counter()
        seed(devnet.http_url, n, rng, progress)
        seeded = time.perf_counter() - started
        with relay_process(devnet.http_url, block_time=1.0, slot_seconds=SLOT) as relay_url:
            watcher = asyncio.run(race(devnet.http_url, devnet.ws_url, relay_url, rounds, progress))
    ex, st = watcher.executor.stats, watcher.strategy.stats
    print(f"seeded {n:,} borrowers in {seeded:.0f} s; book holds {len(watcher.strategy.book.accounts()):,}")
    samples = ex.latency_ms
    if samples:
        print(
            f"pending_update_to_relay p50_ms {statistics.median(samples):7.2f}  "
            f"p99_ms {percentile(samples, 0.99):7.2f}  n {len(samples)}"
        )
    else:
        print(f"pending_update_to_relay no bundle sent ({ex.last_error or st})")
    print(
        f"bundles sent {ex.sent}, included {ex.included}, missed {ex.not_included}, stale {ex.stale}, "
        f"found {st.liquidatable}, planned {st.planned}, profit ${ex.profit_base / 1e8:,.2f}"
    )
    if ex.stages_ms:
        decide, simulate, send = (statistics.median(s) for s in zip(*ex.stages_ms, strict=True))
        print(f"  p50 decide {decide:.1f} ms, sign + simulate {simulate:.1f} ms, send {send:.1f} ms")
    recompute(watcher)


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 40,
    )
