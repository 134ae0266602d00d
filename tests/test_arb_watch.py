"""The arbitrage watcher end to end on the replica: a dislocating swap opens a gap; in the next block the
watcher executes it through the executor, and the realized profit equals the predicted one to the wei."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from eth_utils import to_checksum_address

from defibots.chain.addresses import TOKENS
from defibots.chain.calldata import calldata
from defibots.chain.listener import BlockHeader, LogEvent
from defibots.chain.state_collector import StateCollector
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise
from defibots.engine import Action, Engine, Strategy
from defibots.events import Event
from defibots.execution.executor_client import ExecutorClient
from defibots.jobs.arb_watch import ArbWatcher, WatchConfig, journal_bad_log
from defibots.journal import Journal
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.state.uniswap import SWAP_V3, SYNC, PoolsUpdated, pool_market, uniswap
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
    # the replica starts balanced: no cycle nets anything before the dislocation
    finder = watcher.strategy.finder
    assert len(finder.cycles) >= 6
    assert [o for c in finder.cycles if (o := finder.evaluate(c)) is not None and o.net_profit > 0] == []

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


V2_ROUTER = "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"
SWAP_EXACT_IN = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"


def _dislocate(noise: MarketNoise, trader: str) -> int:
    """300 WETH into the V2 WETH/USDC pair (V2 WETH is now cheap against the V3 pools); its block."""
    swap = calldata(SWAP_EXACT_IN, 300 * 10**18, 0, [WETH, USDC], trader, 2**40)
    account = next(a for a in noise.traders if a.address == trader)
    receipts = noise.wait_mined([noise.send(account, V2_ROUTER, swap)])
    assert receipts[0]["status"] == "0x1"
    return int(receipts[0]["blockNumber"], 16)


def test_a_usdc_base_realizes_the_predicted_usdc_profit(devnet: Devnet, tmp_path: Path) -> None:
    searcher, trader = devnet.accounts[0], devnet.accounts[2]
    client, _ = ExecutorClient.deploy(devnet.w3, searcher, searcher.address)
    config = WatchConfig(
        rpc_url=devnet.http_url, ws_url=devnet.ws_url, executor=client.address,
        journal_path=tmp_path / "journal.sqlite", tokens=("WETH", "USDC", "USDT"),
        params=ArbParams(base_token=USDC, max_hops=2), shadow=False,
    )  # fmt: skip
    watcher = ArbWatcher(config, searcher)
    noise = MarketNoise(devnet.http_url, [trader], seed=1)
    noise.approve_routers()
    dislocation: list[int] = []

    async def scenario() -> None:
        task = asyncio.create_task(watcher.run(60))
        await asyncio.sleep(0.5)
        dislocation.append(await asyncio.to_thread(_dislocate, noise, trader.address))
        await _until(lambda: watcher.executor.stats.included >= 1, 30)
        await watcher.engine.stop()
        await task

    asyncio.run(scenario())
    assert watcher.executor.stats.included >= 1, watcher.executor.stats
    with Journal(tmp_path / "journal.sqlite") as journal:
        opportunity = journal.opportunities(limit=1000)[-1]
        pnl = journal.pnl(limit=1000)[-1]
        receipt = journal.receipts(limit=1000)[-1]
    assert (opportunity.base_token, opportunity.base_decimals) == ("USDC", 6)
    assert opportunity.block_number == dislocation[0] and receipt.block_number == dislocation[0] + 1
    assert receipt.status == 1
    # realized (the executor's USDC balance change) equals the prediction, to the USDC unit
    assert (pnl.base_token, pnl.base_decimals) == ("USDC", 6)
    assert pnl.gross_profit == int(opportunity.details["gross_profit"]) > 0
    # gas priced in USDC units: a 2-hop trade at the replica's fees costs cents to dollars, not 1e14 units
    gas_cost = int(opportunity.details["gas_cost"])
    assert 0 < gas_cost < 100 * 10**6
    assert opportunity.expected_profit == pnl.gross_profit - gas_cost > 0


def _standing_scenario(devnet: Devnet, tmp_path: Path, shadow: bool) -> tuple[ArbWatcher, int]:
    """A dislocation mined before the watcher starts, then no further swaps: the watcher must act on it."""
    searcher, trader = devnet.accounts[0], devnet.accounts[2]
    client, _ = ExecutorClient.deploy(devnet.w3, searcher, searcher.address)
    noise = MarketNoise(devnet.http_url, [trader], seed=1)
    noise.approve_routers()
    state_block = _dislocate(noise, trader.address)
    config = WatchConfig(
        rpc_url=devnet.http_url, ws_url=devnet.ws_url, executor=client.address,
        journal_path=tmp_path / "journal.sqlite", tokens=("WETH", "USDC", "USDT"),
        params=ArbParams(base_token=WETH, max_hops=2), shadow=shadow,
    )  # fmt: skip
    watcher = ArbWatcher(config, searcher)

    async def scenario() -> None:
        task = asyncio.create_task(watcher.run(60))
        done = (lambda: watcher.executor.stats.simulated >= 1) if shadow else (
            lambda: watcher.executor.stats.included >= 1
        )  # fmt: skip
        await _until(done, 30)
        await watcher.engine.stop()
        await task

    asyncio.run(scenario())
    return watcher, state_block


def test_a_standing_opportunity_is_simulated_at_the_first_block_in_shadow(
    devnet: Devnet, tmp_path: Path
) -> None:
    watcher, state_block = _standing_scenario(devnet, tmp_path, shadow=True)
    stats = watcher.executor.stats
    assert (stats.simulated, stats.stale, stats.sent) == (1, 0, 0), stats
    assert devnet.block_number() == state_block  # nothing else happened on chain
    best = watcher.best()[0]
    assert best.block_number == state_block and best.net_profit > 0
    with Journal(tmp_path / "journal.sqlite") as journal:
        (opportunity,) = journal.opportunities(limit=1000)
        (sim,) = journal.simulations(limit=1000)
    assert opportunity.block_number == sim.block_number == state_block
    assert sim.success and sim.profit == int(opportunity.details["gross_profit"]) == best.gross_profit


def test_a_standing_opportunity_is_executed_at_the_first_block(devnet: Devnet, tmp_path: Path) -> None:
    watcher, state_block = _standing_scenario(devnet, tmp_path, shadow=False)
    assert watcher.executor.stats.included == 1, watcher.executor.stats
    with Journal(tmp_path / "journal.sqlite") as journal:
        (opportunity,) = journal.opportunities(limit=1000)
        (pnl,) = journal.pnl(limit=1000)
        (receipt,) = journal.receipts(limit=1000)
    assert opportunity.block_number == state_block and receipt.block_number == state_block + 1
    assert pnl.gross_profit == int(opportunity.details["gross_profit"]) > 0


class ScriptedListener:
    """Stands in for ChainListener: yields a fixed list of chain events, then ends."""

    def __init__(self, items: list[object]) -> None:
        self.items = items

    async def events(self) -> AsyncIterator[object]:
        for item in self.items:
            yield item


class Seen(Strategy):
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def process_event(self, event: Event) -> Sequence[Action]:
        self.events.append(event)
        return ()


def _log(address: str, topics: tuple[str, ...], data: bytes, block: int, index: int) -> LogEvent:
    return LogEvent(
        address=to_checksum_address(address), topics=topics, data=data, block_number=block,
        block_hash="0x" + f"{block:064x}", tx_hash="0x" + f"{index:064x}", tx_index=0, log_index=index,
    )  # fmt: skip


async def test_malformed_logs_are_counted_and_journaled_and_the_next_log_still_applies(
    tmp_path: Path,
) -> None:
    pair = UniswapV2Pair("0x" + "0a" * 20, WETH, USDC, 10 * 10**18, 30_000 * 10**6, block_number=9)
    states = pool_market([pair])
    good = (11 * 10**18).to_bytes(32, "big") + (27_000 * 10**6).to_bytes(32, "big")
    script = [
        BlockHeader(10, "0x" + "10" * 32, "0x" + "09" * 32, 1_700_000_000, 7),
        _log(pair.address, (SYNC,), good[:40], 10, 0),  # a Sync cut short
        _log(pair.address, (SWAP_V3,), b"\x00" * 160, 10, 1),  # a V3 event on a V2 pair
        _log(pair.address, (SYNC,), good, 10, 2),
    ]
    with Journal(tmp_path / "journal.sqlite") as journal:
        collector = StateCollector(
            ScriptedListener(script),  # type: ignore[arg-type]
            states,
            31337,
            {},
            lambda log: journal_bad_log(journal, 31337, log),
        )
        seen = Seen()
        engine = Engine([collector], [seen], [])
        await engine.start()
        try:
            await engine.wait_idle()
        finally:
            await engine.stop()
        errors = journal.errors()
    assert states.stats.malformed == 2 and states.stats.applied == 1
    assert [(e.source, e.kind, e.block_number, e.chain_id) for e in errors] == [
        ("chain", "bad_log", 10, 31337)
    ] * 2
    assert {e.payload for e in errors} == {good[:40].hex(), (b"\x00" * 160).hex()}
    assert all(e.message == f"malformed log from {to_checksum_address(pair.address)}" for e in errors)
    after = uniswap(states).pools[pair.address]
    assert isinstance(after, UniswapV2Pair)
    assert (after.reserve0, after.reserve1, after.block_number, after.log_index) == (
        11 * 10**18, 27_000 * 10**6, 10, 2
    )  # fmt: skip
    updates = [e for e in seen.events if isinstance(e, PoolsUpdated)]
    assert [(u.block_number, u.pools) for u in updates] == [(10, (pair.address,))]
    assert engine.stats().collector_restarts == {"StateCollector": 0}


def test_the_live_view_and_demo_summary_show_a_usdc_base_in_usdc(devnet: Devnet, tmp_path: Path) -> None:
    from rich.console import Console

    from defibots.cli import demo
    from defibots.cli.watch import render

    searcher, trader = devnet.accounts[0], devnet.accounts[2]
    client, _ = ExecutorClient.deploy(devnet.w3, searcher, searcher.address)
    noise = MarketNoise(devnet.http_url, [trader], seed=1)
    noise.approve_routers()
    _dislocate(noise, trader.address)
    config = WatchConfig(
        rpc_url=devnet.http_url, ws_url=devnet.ws_url, executor=client.address,
        journal_path=tmp_path / "journal.sqlite", tokens=("WETH", "USDC", "USDT"),
        params=ArbParams(base_token=USDC, max_hops=2), shadow=True,
    )  # fmt: skip
    watcher = ArbWatcher(config, searcher)

    async def scenario() -> None:
        task = asyncio.create_task(watcher.run(60))
        await _until(lambda: watcher.executor.stats.simulated >= 1, 30)
        await watcher.engine.stop()
        await task

    asyncio.run(scenario())
    best = watcher.best()[0]
    assert best.cycle.base == USDC and best.net_profit > 0
    console = Console(width=200, record=True)
    console.print(render(watcher))
    view = console.export_text()
    assert "best opportunities (amounts in USDC)" in view and "realized 0.000000 USDC" in view
    row = next(line for line in view.splitlines() if str(best.block_number) in line and "->" in line)
    for amount in (best.gross_profit, best.gas_cost, best.net_profit):
        assert f"{amount / 10**6:.6f}" in row  # 6 decimals: USDC units, not 1e18
    assert "USDC-v2->WETH-v3-" in row  # the route starts and ends in the base, V3 hops name their tier
    with demo.console.capture() as captured:
        demo._summary(watcher, 0, 0, 3000.0)
    summary = captured.get()
    assert "0.000000 USDC" in summary and " WETH" not in summary
