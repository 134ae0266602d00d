"""The arbitrage watcher under a flaky node: its websocket is cut 10 times while market noise trades (three
of the cuts stop anvil and restart it on the same port from a state dump), then the chain reorganises at
depths 1, 2 and 3. Afterwards every block and every tracked log of the chain was seen exactly once,
the pool models were updated by exactly the logs eth_getLogs reports, and they equal a fresh load from the
chain, after the cuts and after each reorg. Nothing crashed and the collector never restarted.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.chain.tcp_proxy import TcpProxy, ThreadedTcpProxy
from web3 import HTTPProvider, Web3

from defibots.chain.addresses import TOKENS
from defibots.chain.async_rpc import Backoff
from defibots.chain.listener import BlockHeader, ChainEvent, ChainListener, LogEvent, Reorg
from defibots.chain.pool_loader import load_pools
from defibots.chain.rpc import JsonRpc
from defibots.devnet.noise import MarketNoise, swap_call
from defibots.devnet.replica import cache_path, seeded_pools
from defibots.execution.executor_client import ExecutorClient
from defibots.foundry.accounts import dev_accounts
from defibots.foundry.anvil import AnvilConfig, AnvilNode, free_port
from defibots.jobs.arb_watch import ArbWatcher, WatchConfig
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.state.uniswap import TRACKED_TOPICS
from defibots.strategies.amm_arb import ArbParams

SYMBOLS = ("WETH", "USDC", "USDT")
CUTS = 10
RESTARTS = {2, 5, 8}  # these cuts also stop anvil and start it again from a dump of its state
SWAPS_PER_PHASE = 3
TIMEOUT_S = 60.0  # a hang guard, not a timing assertion


class RecordingListener:
    """Passes the listener's events on to the collector and remembers them for the checks."""

    def __init__(self, inner: ChainListener) -> None:
        self.inner = inner
        self.hashes: dict[int, str] = {}  # block number -> hash of the block last seen at that height
        self.logs: dict[tuple[str, int], LogEvent] = {}  # (block hash, log index) -> log
        self.duplicates = 0
        self.reorgs: list[Reorg] = []

    async def events(self) -> AsyncIterator[ChainEvent]:
        async for event in self.inner.events():
            if isinstance(event, BlockHeader):
                self.hashes[event.number] = event.hash
            elif isinstance(event, LogEvent):
                key = (event.block_hash, event.log_index)
                self.duplicates += key in self.logs
                self.logs[key] = event
            else:
                self.reorgs.append(event)
            yield event

    def canonical_logs(self) -> list[tuple[int, int, str]]:
        """Logs of the blocks that are (as far as seen) canonical, in chain order."""
        kept = [x for x in self.logs.values() if self.hashes.get(x.block_number) == x.block_hash]
        return sorted((x.block_number, x.log_index, x.tx_hash) for x in kept)


class Node:
    """anvil on a fixed port that can be stopped and started again with its state kept."""

    def __init__(self, state_dir: Path) -> None:
        self.port = free_port()
        self.state_file = state_dir / "anvil-state.json"
        self.anvil = AnvilNode(AnvilConfig(port=self.port, load_state=cache_path())).start()
        self.rpc = JsonRpc(self.anvil.http_url)

    @property
    def http_url(self) -> str:
        return self.anvil.http_url

    def restart(self) -> None:
        dump = str(self.rpc.call("anvil_dumpState"))
        self.state_file.write_bytes(gzip.decompress(bytes.fromhex(dump.removeprefix("0x"))))
        self.anvil.stop()
        self.anvil = AnvilNode(AnvilConfig(port=self.port, load_state=self.state_file)).start()

    def stop(self) -> None:
        self.anvil.stop()


def chain_logs(rpc: JsonRpc, addresses: list[str], first: int, last: int) -> list[tuple[int, int, str]]:
    flt = {
        "address": addresses,
        "topics": [list(TRACKED_TOPICS)],
        "fromBlock": hex(first),
        "toBlock": hex(last),
    }
    return sorted(
        (int(x["blockNumber"], 16), int(x["logIndex"], 16), x["transactionHash"])
        for x in rpc.call("eth_getLogs", flt)
    )


def head(rpc: JsonRpc) -> tuple[int, str]:
    block = rpc.call("eth_getBlockByNumber", "latest", False)
    return int(block["number"], 16), str(block["hash"])


def model_mismatches(watcher: ArbWatcher) -> list[str]:
    """Pools whose synced model differs from a fresh load (V3: price, tick, liquidity, every tick)."""
    fresh = load_pools(watcher.rpc, watcher.pool_refs)
    bad = []
    for address, chain in fresh.items():
        synced = watcher.pools.pools[address]
        if isinstance(chain, UniswapV3Pool):
            assert isinstance(synced, UniswapV3Pool)
            same = (synced.sqrt_price_x96, synced.tick, synced.liquidity, dict(synced.ticks)) == (
                chain.sqrt_price_x96, chain.tick, chain.liquidity, dict(chain.ticks)
            )  # fmt: skip
        else:
            same = (synced.reserve0, synced.reserve1) == (chain.reserve0, chain.reserve1)  # type: ignore[union-attr]
        if not same:
            bad.append(address)
    return bad


async def settled(watcher: ArbWatcher, recorder: RecordingListener, first: int) -> tuple[int, list[Any]]:
    """Wait until the watcher has seen the chain's head block and every tracked log up to it."""
    addresses = [r.address for r in watcher.pool_refs]
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        number, block_hash = await asyncio.to_thread(head, watcher.rpc)
        logs = await asyncio.to_thread(chain_logs, watcher.rpc, addresses, first, number)
        if recorder.hashes.get(number) == block_hash and recorder.canonical_logs() == logs:
            return number, logs
        assert time.monotonic() < deadline, f"watcher stuck below block {number}"
        await asyncio.sleep(0.05)


async def until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def swaps(noise: MarketNoise, n: int) -> None:
    hashes = [await asyncio.to_thread(noise.random_swap) for _ in range(n)]
    receipts = await asyncio.to_thread(noise.wait_mined, hashes)
    assert all(r["status"] == "0x1" for r in receipts)


@pytest.mark.usefixtures("replica")  # builds the state cache Node starts from
async def test_cuts_restarts_and_reorgs_lose_nothing(tmp_path: Path) -> None:
    node = Node(tmp_path)
    try:
        await _scenario(node, tmp_path)
    finally:
        node.stop()


async def _scenario(node: Node, tmp_path: Path) -> None:
    accounts = dev_accounts(10)
    searcher = accounts[0]
    w3 = Web3(HTTPProvider(node.http_url))
    client, _ = ExecutorClient.deploy(w3, searcher, searcher.address)
    tracked = [p for p in seeded_pools() if {p.token0, p.token1} <= set(SYMBOLS)]
    noise = MarketNoise(node.http_url, accounts[5:], seed=23, pools=tracked)
    noise.approve_routers()
    proxy = TcpProxy(node.port)
    await proxy.resume()
    config = WatchConfig(
        rpc_url=node.http_url, ws_url=proxy.ws_url, executor=client.address,
        journal_path=tmp_path / "journal.sqlite", tokens=SYMBOLS,
        params=ArbParams(base_token=TOKENS["WETH"].address, max_hops=2), shadow=True,
    )  # fmt: skip
    watcher = ArbWatcher(config, searcher)
    watcher.listener.backoff = Backoff(initial=0.02, maximum=0.2)
    recorder = RecordingListener(watcher.listener)
    watcher.collector.listener = recorder  # type: ignore[assignment]
    first = watcher.listener.start_block
    assert first is not None
    run = asyncio.create_task(watcher.run())
    try:
        # -- 10 cuts during noise, 3 of them with a node restart --------------------------------------
        for cut in range(CUTS):
            await swaps(noise, SWAPS_PER_PHASE)  # seen live
            await until(lambda n=cut: watcher.listener.stats.reconnects == n)  # cut a live connection
            await proxy.cut()
            if cut in RESTARTS:
                await asyncio.to_thread(node.restart)
            await swaps(noise, SWAPS_PER_PHASE)  # mined while the watcher is cut off: backfilled
            await asyncio.sleep(0.05)  # a failed reconnect or two
            await proxy.resume()
        # the listener starts at the loaded block + 1, or at the loaded block itself when the chain had not
        # moved yet (it needs a block to link to): its logs are then seen again and refused as stale
        start = min(recorder.hashes)
        assert start in (first - 1, first)
        last, logs = await settled(watcher, recorder, start)
        assert not run.done()
        assert len(logs) >= CUTS * 2 * SWAPS_PER_PHASE  # every swap logs at least once
        assert set(recorder.hashes) == set(range(start, last + 1))  # every block, none skipped
        chain = [
            str(node.rpc.call("eth_getBlockByNumber", hex(n), False)["hash"]) for n in range(start, last + 1)
        ]
        assert [recorder.hashes[n] for n in range(start, last + 1)] == chain
        assert recorder.duplicates == 0 and recorder.reorgs == []
        seen_again = [x for x in logs if x[0] < first]
        stats = watcher.state.stats
        assert (stats.applied, stats.stale, stats.malformed) == (
            len(logs) - len(seen_again),
            len(seen_again),
            0,
        )
        assert model_mismatches(watcher) == []
        assert watcher.listener.stats.reconnects == CUTS
        assert watcher.listener.stats.backfilled_blocks >= CUTS * SWAPS_PER_PHASE

        # -- reorgs of depth 1, 2, 3 while the watcher runs ---------------------------------------------
        trader = accounts[6]
        for count, depth in enumerate((1, 2, 3), start=1):
            await swaps(noise, depth + 1)
            await settled(watcher, recorder, start)
            replacement = []
            for offset in range(depth):
                pool = tracked[(depth + offset) % len(tracked)]
                router, data = swap_call(
                    noise.rng, pool, pool.token1, 10 ** TOKENS[pool.token1].decimals * 500, trader.address
                )
                replacement.append(
                    [{"from": trader.address, "to": router, "data": data, "gas": hex(400_000)}, offset]
                )
            await asyncio.to_thread(node.rpc.call, "anvil_reorg", depth, replacement)
            noise.nonces.clear()  # the orphaned swaps' nonces are free again
            _, logs = await settled(watcher, recorder, start)
            reorg = recorder.reorgs[-1]
            assert len(recorder.reorgs) == count and reorg.depth == depth and reorg.removed_logs
            assert len([x for x in logs if x[0] > reorg.fork_block]) >= depth  # the new branch's swaps
            assert model_mismatches(watcher) == [], f"after the depth-{depth} reorg"
        assert watcher.collector.reloads == 0  # rolled back from history, not reloaded
        engine = watcher.stats()
        assert set(engine.collector_restarts.values()) == {0}
        assert recorder.duplicates == 0 and not run.done()
    finally:
        await watcher.engine.stop()
        await run
        await proxy.cut()


HTTP_REFUSALS = 10


@pytest.mark.usefixtures("replica")  # builds the state cache Node starts from
async def test_http_only_watcher_survives_refused_connections(tmp_path: Path) -> None:
    """`watch arb` with no websocket: the RPC refuses connections 10 times during noise; the watcher keeps
    polling, backfills each gap, and sees every block and tracked log of the chain exactly once."""
    node = Node(tmp_path)
    try:
        await _http_scenario(node, tmp_path)
    finally:
        node.stop()


async def _http_scenario(node: Node, tmp_path: Path) -> None:
    accounts = dev_accounts(10)
    searcher = accounts[0]
    w3 = Web3(HTTPProvider(node.http_url))
    client, _ = ExecutorClient.deploy(w3, searcher, searcher.address)
    tracked = [p for p in seeded_pools() if {p.token0, p.token1} <= set(SYMBOLS)]
    noise = MarketNoise(node.http_url, accounts[5:], seed=29, pools=tracked)  # straight to the node
    noise.approve_routers()
    proxy = ThreadedTcpProxy(node.port)
    proxy.resume()
    config = WatchConfig(
        rpc_url=proxy.http_url, ws_url=None, executor=client.address,
        journal_path=tmp_path / "journal.sqlite", tokens=SYMBOLS,
        params=ArbParams(base_token=TOKENS["WETH"].address, max_hops=2), shadow=True,
    )  # fmt: skip
    watcher = ArbWatcher(config, searcher)
    watcher.listener.backoff = Backoff(initial=0.02, maximum=0.2)
    watcher.listener.poll_interval = 0.05
    recorder = RecordingListener(watcher.listener)
    watcher.collector.listener = recorder  # type: ignore[assignment]
    first = watcher.listener.start_block
    assert first is not None
    run = asyncio.create_task(watcher.run())
    try:
        for refusal in range(HTTP_REFUSALS):
            await swaps(noise, 2)
            await until(lambda n=refusal: watcher.listener.stats.reconnects == n)
            failed = watcher.listener.stats.connection_failures
            proxy.cut()  # every new connection is refused until resume()
            await swaps(noise, 2)  # mined while the watcher cannot reach its RPC: backfilled
            await until(lambda f=failed: watcher.listener.stats.connection_failures > f)
            assert not run.done()
            proxy.resume()
        start = min(recorder.hashes)
        assert start in (first - 1, first)
        last, logs = await settled(watcher, recorder, start)
        assert not run.done()
        assert watcher.listener.stats.mode == "http"
        assert len(logs) >= HTTP_REFUSALS * 4  # every swap logs at least once
        assert set(recorder.hashes) == set(range(start, last + 1))
        chain = [
            str(node.rpc.call("eth_getBlockByNumber", hex(n), False)["hash"]) for n in range(start, last + 1)
        ]
        assert [recorder.hashes[n] for n in range(start, last + 1)] == chain
        assert recorder.duplicates == 0 and recorder.reorgs == []
        seen_again = [x for x in logs if x[0] < first]
        stats = watcher.state.stats
        assert (stats.applied, stats.stale, stats.malformed) == (
            len(logs) - len(seen_again),
            len(seen_again),
            0,
        )
        assert await asyncio.to_thread(model_mismatches, watcher) == []
        assert watcher.listener.stats.reconnects == HTTP_REFUSALS
        assert watcher.listener.stats.backfilled_blocks >= HTTP_REFUSALS * 2
        assert set(watcher.stats().collector_restarts.values()) == {0}
    finally:
        await watcher.engine.stop()
        await run
        proxy.close()


MEMPOOL_REFUSALS = 5


@pytest.mark.usefixtures("replica")
async def test_http_only_backrun_mempool_survives_refused_connections(tmp_path: Path) -> None:
    """`watch backrun` with no websocket: its mempool watcher keeps polling through 5 refusals of the RPC
    and reports every pending router swap exactly once (those sent while it was cut off included)."""
    from eth_account import Account

    from defibots.jobs.backrun_watch import BackrunConfig, BackrunWatcher

    node = Node(tmp_path)
    proxy = ThreadedTcpProxy(node.port)
    try:
        accounts = dev_accounts(10)
        searcher = accounts[0]
        client, _ = ExecutorClient.deploy(Web3(HTTPProvider(node.http_url)), searcher, searcher.address)
        tracked = [p for p in seeded_pools() if {p.token0, p.token1} <= set(SYMBOLS)]
        noise = MarketNoise(node.http_url, accounts[5:], seed=37, pools=tracked)
        noise.approve_routers()
        node.rpc.call("evm_setAutomine", False)  # swaps stay pending
        proxy.resume()
        config = BackrunConfig(
            rpc_url=proxy.http_url, ws_url=None, executor=client.address,
            journal_path=tmp_path / "journal.sqlite", tokens=SYMBOLS,
            params=ArbParams(base_token=TOKENS["WETH"].address, max_hops=2),
            relay_urls=("http://127.0.0.1:9",),  # never reached: nothing is executed here
        )  # fmt: skip
        watcher = BackrunWatcher(config, searcher, Account.create())
        mempool = watcher.mempool
        mempool.backoff = Backoff(initial=0.02, maximum=0.2)
        mempool.poll_interval = 0.02
        seen: list[str] = []

        async def consume() -> None:
            async for swap in mempool.swaps():
                seen.append(swap.tx_hash)

        task = asyncio.create_task(consume())
        sent: list[str] = []
        try:
            for refusal in range(MEMPOOL_REFUSALS):
                sent.extend(noise.random_swap() for _ in range(2))
                await until(lambda: set(seen) == set(sent))
                assert mempool.stats.reconnects == refusal
                failures = mempool.stats.connection_failures
                proxy.cut()
                sent.extend(noise.random_swap() for _ in range(2))  # pending while the watcher is cut off
                await until(lambda f=failures: mempool.stats.connection_failures > f)
                assert not task.done()
                proxy.resume()
            await until(lambda: set(seen) == set(sent))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert sorted(seen) == sorted(sent)  # each exactly once
        assert mempool.stats.reconnects == MEMPOOL_REFUSALS and mempool.stats.mode == "http"
        await watcher.engine.stop()
        watcher.journal.close()
    finally:
        proxy.close()
        node.stop()


def test_http_only_watcher_with_unreachable_rpc_is_one_user_error(tmp_path: Path) -> None:
    """Polling retries forever once running, so an RPC that is down at start-up must be caught before:
    one UserError line from the start-up checks, not a watcher that polls nothing."""
    from eth_account import Account

    from defibots.errors import UserError

    url = f"http://127.0.0.1:{free_port()}"
    config = WatchConfig(
        rpc_url=url, ws_url=None, executor="0x" + "11" * 20, journal_path=tmp_path / "journal.sqlite",
        tokens=SYMBOLS, params=ArbParams(base_token=TOKENS["WETH"].address, max_hops=2),
    )  # fmt: skip
    with pytest.raises(UserError) as caught:
        ArbWatcher(config, Account.create())
    assert str(caught.value).startswith(f"cannot reach RPC {url}: ") and "\n" not in str(caught.value)
