"""The demo summary and `defibots history` read the same journal totals: trades, gas and P&L agree, a
reverted trade's gas included. The watcher runs briefly on the replica (a real dislocation, a real fill),
then a real on-chain revert lands in the same journal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from defibots.actions import ExecutorTxAction
from defibots.chain.calldata import calldata
from defibots.cli import demo
from defibots.cli.display import units
from defibots.cli.main import app
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise
from defibots.execution.executor_client import ExecutorClient
from defibots.execution.public_tx import PublicTxExecutor, route_for
from defibots.jobs.arb_watch import ArbWatcher, WatchConfig
from defibots.journal import Journal
from defibots.strategies.amm_arb import ArbParams

from .executor_market import USDC, WETH
from .test_public_tx import (
    TIP,
    deploy,
    load_states,
    no_automine,
    open_gap,
    opportunities,
    pending_nonces,
    until,
)

pytestmark = pytest.mark.devnet
__all__ = ["no_automine"]  # the fixture, imported for this module's test

V2_ROUTER = "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"


def run_watcher_until_a_fill(devnet: Devnet, path: Path) -> ArbWatcher:
    searcher, trader = devnet.accounts[0], devnet.accounts[2]
    client, _ = ExecutorClient.deploy(devnet.w3, searcher, searcher.address)
    config = WatchConfig(
        rpc_url=devnet.http_url, ws_url=devnet.ws_url, executor=client.address, journal_path=path,
        tokens=("WETH", "USDC"), params=ArbParams(base_token=WETH, max_hops=2), shadow=False,
    )  # fmt: skip
    watcher = ArbWatcher(config, searcher)
    noise = MarketNoise(devnet.http_url, [trader], seed=1)
    noise.approve_routers()
    swap = calldata(
        "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
        300 * 10**18, 0, [WETH, USDC], trader.address, 2**40,
    )  # fmt: skip

    async def scenario() -> None:
        task = asyncio.create_task(watcher.run(60))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(lambda: noise.wait_mined([noise.send(trader, V2_ROUTER, swap)]))
        await until(lambda: watcher.executor.stats.included >= 1)
        await watcher.engine.stop()
        await task

    asyncio.run(scenario())
    return watcher


def add_a_revert(devnet: Devnet, path: Path) -> None:
    """A rival's copy of our trade lands first (automine off, FIFO pool): ours reverts on chain."""
    client = deploy(devnet)
    rival_owner = devnet.accounts[3]
    rival, _ = ExecutorClient.deploy(devnet.w3, rival_owner, rival_owner.address)
    open_gap(devnet)
    opp = opportunities(devnet, load_states(devnet))[0]
    devnet.rpc("evm_setAutomine", False)
    rival_tx = rival.build_execute(route_for(opp, 1), gas=600_000, max_priority_fee_per_gas=TIP)
    devnet.w3.eth.send_raw_transaction(rival_owner.sign_transaction(rival_tx).raw_transaction)  # type: ignore[arg-type]

    async def scenario() -> None:
        with Journal(path) as journal:
            ex = PublicTxExecutor(client, journal, devnet.chain_id, shadow=False)
            task = asyncio.create_task(ex.execute(ExecutorTxAction(opportunity=opp)))
            await until(lambda: bool(pending_nonces(devnet, client.signer.address)))  # type: ignore[union-attr]
            devnet.rpc("evm_mine")
            await task
            await ex.close()
            assert ex.stats.reverted == 1

    asyncio.run(scenario())


def test_demo_summary_and_history_agree_on_trades_gas_and_pnl(
    no_automine: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    devnet = no_automine
    devnet.rpc("evm_setAutomine", True)
    path = tmp_path / "journal.sqlite"
    watcher = run_watcher_until_a_fill(devnet, path)
    add_a_revert(devnet, path)

    screen = Console(record=True, width=400)
    monkeypatch.setattr(demo, "console", screen)  # wide enough that no table cell wraps
    demo._summary(watcher, 0, 0, 3000.0)
    summary = screen.export_text()
    history = CliRunner().invoke(app, ["history", "--journal", str(path)])
    assert history.exit_code == 0, history.output

    with Journal(path, create=False) as journal:
        (total,) = journal.totals()
        trades = journal.trades()
    assert total.reverted == 1 and total.included >= 1 and total.trades == len(trades)
    assert total.gas_cost == sum(t.gas_cost for t in trades) > 0
    (line,) = [ln for ln in history.output.splitlines() if ln.startswith("WETH: trades")]
    assert "reverted 1" in line and line in summary  # the same totals, word for word
    cells = [ln.split("│") for ln in summary.splitlines() if ln.count("│") >= 3]
    rows = {c[1].strip(): c[2].strip() for c in cells}
    assert rows["executed"] == str(total.included) and rows["reverted"] == "1"
    assert rows["gas spent"].startswith(f"{units(total.gas_cost, 18)} ETH")
    assert rows["net"].startswith(f"{units(total.net_profit, 18)} WETH")
