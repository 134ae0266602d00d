"""PublicTxExecutor on the mainnet replica: the opportunity's real arbitrage, broadcast, mined, journaled.

Opportunities come from the real strategy (ArbFinder) on pools loaded from the replica after a trader
opens a gap; the fee fields are set the way the strategy prices them (gas_cost = gas * max_fee_per_gas).
Reverts, time-outs and stuck transactions are produced on chain (automine off, a competitor landing
first, a transaction dropped from the pool), never hand-built.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner

from defibots.actions import ExecutorTxAction, Opportunity
from defibots.chain.pool_discovery import discover_pools
from defibots.chain.pool_loader import load_pools
from defibots.chain.rpc import JsonRpc
from defibots.cli.main import app
from defibots.devnet.node import Devnet, DevnetOptions
from defibots.execution.executor_client import ExecutorClient
from defibots.execution.public_tx import PublicTxExecutor, route_for
from defibots.execution.route import Route
from defibots.journal import Journal
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.state.store import MarketState
from defibots.state.uniswap import pool_market, uniswap
from defibots.strategies.amm_arb import ArbFinder, ArbParams

from .executor_market import DAI, USDC, V2_WETH_USDC, WETH, dump_on_v2, v2_reserve_of

pytestmark = pytest.mark.devnet

GWEI = 10**9
TIP = 3 * GWEI  # not the node's eth_maxPriorityFeePerGas (1 gwei): a sent tip of 3 gwei is ours
MIN_PROFIT = 10**12


def load_states(devnet: Devnet, tokens: tuple[str, ...] = (WETH, USDC)) -> MarketState:
    rpc = JsonRpc(devnet.http_url)
    return pool_market(load_pools(rpc, discover_pools(rpc, list(tokens))).values())


def priced(devnet: Devnet, opp: Opportunity, tip: int = TIP, max_fee: int | None = None) -> Opportunity:
    """The opportunity priced as the strategy prices it: fee cap 2 * base fee + tip, gas at the cap."""
    head = devnet.w3.eth.get_block("latest")
    cap = max_fee if max_fee is not None else 2 * int(head["baseFeePerGas"]) + tip
    return replace(
        opp,
        max_fee_per_gas=cap,
        priority_fee_per_gas=tip,
        gas_cost=opp.to_base(opp.gas * cap),
        block_number=int(head["number"]),
    )


def opportunities(devnet: Devnet, states: MarketState) -> list[Opportunity]:
    ranked = ArbFinder(uniswap(states).pools, ArbParams(base_token=WETH, max_hops=2)).evaluate_all()
    assert ranked and ranked[0].net_profit > 0
    return [priced(devnet, o) for o in ranked]


def open_gap(devnet: Devnet, pair: str = V2_WETH_USDC, other: str = USDC) -> None:
    """A trader dumps 5% of the pair's WETH into it: WETH is cheap on that V2 pair against the V3 pools."""
    depth = v2_reserve_of(devnet.w3, pair, WETH, other)
    dump_on_v2(devnet.w3, devnet.accounts[2].address, pair, WETH, other, depth // 20)


def deploy(devnet: Devnet) -> ExecutorClient:
    owner, bot = devnet.accounts[0], devnet.accounts[1]
    deployed, _ = ExecutorClient.deploy(devnet.w3, owner, owner.address, [bot.address])
    return ExecutorClient(devnet.w3, deployed.address, bot)


def rival_and_gap(devnet: Devnet) -> tuple[ExecutorClient, LocalAccount, ExecutorClient, Opportunity]:
    """Our executor, a rival searcher's, and the best opportunity of a freshly opened gap; automine is then
    off, so what is sent next waits in the pool in the order sent."""
    devnet.rpc("evm_setAutomine", True)
    client = deploy(devnet)
    rival_owner = devnet.accounts[3]
    rival, _ = ExecutorClient.deploy(devnet.w3, rival_owner, rival_owner.address)
    open_gap(devnet)
    opp = opportunities(devnet, load_states(devnet))[0]
    devnet.rpc("evm_setAutomine", False)
    return client, rival_owner, rival, opp


def sent_route(devnet: Devnet, tx_hash: str) -> Route:
    tx = devnet.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
    (route_bytes,) = abi_decode(["bytes"], bytes(tx["input"])[4:])
    return Route.decode(route_bytes)


def pending_nonces(devnet: Devnet, sender: str) -> set[int]:
    pool = devnet.rpc("txpool_content")["pending"]
    ours = {k.lower(): v for k, v in pool.items()}.get(sender.lower(), {})
    return {int(n) for n in ours}


async def until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


@pytest.fixture
def no_automine(devnet: Devnet) -> Iterator[Devnet]:
    devnet.rpc("evm_setAutomine", False)
    try:
        yield devnet
    finally:
        devnet.rpc("anvil_dropAllTransactions")
        devnet.rpc("evm_setAutomine", True)


# ------------------------------------------------------------------------------------- A: fees and guard


def test_sent_tx_carries_the_priced_fees_and_the_guard_covers_gas(devnet: Devnet, tmp_path: Path) -> None:
    client = deploy(devnet)
    open_gap(devnet)
    opp = opportunities(devnet, load_states(devnet))[0]

    async def scenario() -> None:
        ex = PublicTxExecutor(client, journal, devnet.chain_id, shadow=False, min_net_profit=MIN_PROFIT)
        await ex.execute(ExecutorTxAction(opportunity=opp))
        await ex.close()  # lets the receipt settle

    with Journal(tmp_path / "j.sqlite") as journal:
        asyncio.run(scenario())
        (send,) = journal.sends()
        (receipt,) = journal.receipts()
        (pnl,) = journal.pnl()
    tx = devnet.w3.eth.get_transaction(send.ident)  # type: ignore[arg-type]
    assert (tx["maxFeePerGas"], tx["maxPriorityFeePerGas"]) == (opp.max_fee_per_gas, TIP)
    assert sent_route(devnet, send.ident).min_profit == MIN_PROFIT + opp.gas_cost
    chain = devnet.w3.eth.get_transaction_receipt(send.ident)  # type: ignore[arg-type]
    assert receipt.status == chain["status"] == 1
    assert (receipt.gas_used, receipt.effective_gas_price) == (chain["gasUsed"], chain["effectiveGasPrice"])
    gas_wei = chain["gasUsed"] * chain["effectiveGasPrice"]
    assert (pnl.status, pnl.gross_profit, pnl.gas_cost) == ("included", opp.gross_profit, gas_wei)
    assert pnl.net_profit == opp.gross_profit - gas_wei  # WETH base: gas converts one to one


def test_watch_arb_hands_min_profit_to_the_executor(devnet: Devnet, tmp_path: Path) -> None:
    from defibots.jobs.arb_watch import ArbWatcher, WatchConfig

    client = deploy(devnet)
    config = WatchConfig(
        rpc_url=devnet.http_url, ws_url=None, executor=client.address, journal_path=tmp_path / "j.sqlite",
        tokens=("WETH", "USDC"), params=ArbParams(base_token=WETH, min_net_profit=7 * 10**15),
    )  # fmt: skip
    watcher = ArbWatcher(config, devnet.accounts[1])
    try:
        assert watcher.executor.min_net_profit == 7 * 10**15
    finally:
        watcher.journal.close()


# ------------------------------------------------------------------------------------- B: every outcome


def test_on_chain_revert_has_a_receipt_and_its_gas_loss_in_history(
    no_automine: Devnet, tmp_path: Path
) -> None:
    devnet = no_automine
    client, rival_owner, rival, opp = rival_and_gap(devnet)
    # another searcher's copy of the same trade reaches the pool first (the devnet orders FIFO)
    rival_tx = rival.build_execute(route_for(opp, 1), gas=600_000, max_priority_fee_per_gas=TIP)
    devnet.w3.eth.send_raw_transaction(rival_owner.sign_transaction(rival_tx).raw_transaction)  # type: ignore[arg-type]
    bot = devnet.accounts[1].address

    async def scenario() -> None:
        ex = PublicTxExecutor(client, journal, devnet.chain_id, shadow=False)
        task = asyncio.create_task(ex.execute(ExecutorTxAction(opportunity=opp)))
        await until(lambda: bool(pending_nonces(devnet, bot)))
        devnet.rpc("evm_mine")
        await task
        await ex.close()

    path = tmp_path / "j.sqlite"
    with Journal(path) as journal:
        asyncio.run(scenario())
        (send,) = journal.sends()
        receipts = journal.receipts()
        (trade,) = journal.trades()
        (total,) = journal.totals()
    chain = devnet.w3.eth.get_transaction_receipt(send.ident)  # type: ignore[arg-type]
    assert chain["status"] == 0
    assert [(r.tx_hash, r.status, r.gas_used) for r in receipts] == [(send.ident, 0, chain["gasUsed"])]
    loss = chain["gasUsed"] * chain["effectiveGasPrice"]
    assert (trade.status, trade.gas_cost, trade.net_profit) == ("reverted", loss, -loss)
    assert (total.trades, total.reverted, total.gas_cost, total.net_profit) == (1, 1, loss, -loss)
    result = CliRunner().invoke(app, ["history", "--journal", str(path)])
    assert result.exit_code == 0, result.output
    assert "reverted" in result.output and "pending" not in result.output
    assert f"-{loss / 10**18:.18f}".rstrip("0") in result.output


def test_broadcast_the_node_refuses_is_journaled_and_leaves_no_send(devnet: Devnet, tmp_path: Path) -> None:
    client = deploy(devnet)
    open_gap(devnet)
    opp = priced(devnet, opportunities(devnet, load_states(devnet))[0], tip=1, max_fee=1)  # < base fee
    assert opp.max_fee_per_gas < int(devnet.w3.eth.get_block("latest")["baseFeePerGas"])
    nonce = devnet.w3.eth.get_transaction_count(devnet.accounts[1].address)

    async def scenario() -> None:
        ex = PublicTxExecutor(client, journal, devnet.chain_id, shadow=False)
        await ex.execute(ExecutorTxAction(opportunity=opp))
        await ex.close()

    with Journal(tmp_path / "j.sqlite") as journal:
        asyncio.run(scenario())
        assert journal.sends() == [] and journal.trades() == []
        (sim,) = journal.simulations()
        (error,) = journal.errors()
    assert sim.success and sim.profit == opp.gross_profit
    assert (error.source, error.kind) == ("public_tx", "send_failed")
    assert "base fee" in error.message
    assert devnet.w3.eth.get_transaction_count(devnet.accounts[1].address) == nonce


def test_receipt_time_out_is_unknown_then_resolved_by_the_next_block(
    no_automine: Devnet, tmp_path: Path
) -> None:
    devnet = no_automine
    devnet.rpc("evm_setAutomine", True)
    client = deploy(devnet)
    open_gap(devnet)
    opp = opportunities(devnet, load_states(devnet))[0]
    devnet.rpc("evm_setAutomine", False)

    async def scenario() -> None:
        ex = PublicTxExecutor(client, journal, devnet.chain_id, shadow=False, receipt_timeout_s=0.2)
        await ex.execute(ExecutorTxAction(opportunity=opp))
        await until(lambda: ex.stats.timed_out == 1)
        assert [t.status for t in journal.trades()] == ["unknown"]
        assert [e.kind for e in journal.errors()] == ["receipt_timeout"]
        devnet.rpc("evm_mine")
        await ex.close()

    with Journal(tmp_path / "j.sqlite") as journal:
        asyncio.run(scenario())
        (trade,) = journal.trades()
        (receipt,) = journal.receipts()
    assert receipt.status == 1
    assert (trade.status, trade.gross_profit) == ("included", opp.gross_profit)


def test_stuck_tx_is_replaced_with_fees_bumped_ten_percent(no_automine: Devnet, tmp_path: Path) -> None:
    devnet = no_automine
    devnet.rpc("evm_setAutomine", True)
    client = deploy(devnet)
    open_gap(devnet)
    opp = opportunities(devnet, load_states(devnet))[0]
    devnet.rpc("evm_setAutomine", False)
    bot = devnet.accounts[1].address

    async def scenario() -> None:
        ex = PublicTxExecutor(client, journal, devnet.chain_id, shadow=False, stuck_blocks=2)
        await ex.execute(ExecutorTxAction(opportunity=opp))
        (send,) = journal.sends()
        devnet.rpc("anvil_dropTransaction", send.ident)  # evicted from the pool: it will never land
        for _ in range(3):
            devnet.rpc("evm_mine")
            await asyncio.sleep(0.3)
        await until(lambda: ex.stats.replaced == 1)
        devnet.rpc("evm_mine")
        await ex.close()

    with Journal(tmp_path / "j.sqlite") as journal:
        asyncio.run(scenario())
        (send,) = journal.sends()
        (receipt,) = journal.receipts()
        (trade,) = journal.trades()
    original, replacement = send.tx_hashes
    assert receipt.tx_hash == replacement and receipt.status == 1
    tx = devnet.w3.eth.get_transaction(replacement)  # type: ignore[arg-type]
    assert tx["maxFeePerGas"] * 10 >= opp.max_fee_per_gas * 11
    assert tx["maxPriorityFeePerGas"] * 10 >= TIP * 11
    assert tx["nonce"] == devnet.w3.eth.get_transaction_count(bot) - 1
    assert (trade.status, trade.gross_profit) == ("included", opp.gross_profit)
    assert original != replacement


def test_stuck_tx_whose_trade_is_gone_is_cancelled_and_its_gas_journaled(
    no_automine: Devnet, tmp_path: Path
) -> None:
    devnet = no_automine
    client, rival_owner, rival, opp = rival_and_gap(devnet)
    bot = devnet.accounts[1].address

    async def scenario() -> None:
        ex = PublicTxExecutor(client, journal, devnet.chain_id, shadow=False, stuck_blocks=2)
        await ex.execute(ExecutorTxAction(opportunity=opp))
        (send,) = journal.sends()
        devnet.rpc("anvil_dropTransaction", send.ident)
        # meanwhile a rival takes the gap: a replacement would now revert, so the nonce is cancelled
        rival_tx = rival.build_execute(route_for(opp, 1), gas=600_000, max_priority_fee_per_gas=TIP)
        devnet.w3.eth.send_raw_transaction(rival_owner.sign_transaction(rival_tx).raw_transaction)  # type: ignore[arg-type]
        for _ in range(10):  # blocks until the cancel lands (stuck after 2, cancelled, then mined)
            devnet.rpc("evm_mine")
            await asyncio.sleep(0.3)
            if ex.stats.dropped:
                break
        await ex.close()

    with Journal(tmp_path / "j.sqlite") as journal:
        asyncio.run(scenario())
        (send,) = journal.sends()
        (receipt,) = journal.receipts()
        (trade,) = journal.trades()
        kinds = [e.kind for e in journal.errors()]
    cancel = send.tx_hashes[-1]
    tx = devnet.w3.eth.get_transaction(cancel)  # type: ignore[arg-type]
    assert (tx["to"], tx["value"], tx["input"], tx["gas"]) == (bot, 0, b"", 21_000)
    assert tx["maxFeePerGas"] * 10 >= opp.max_fee_per_gas * 11
    assert receipt.tx_hash == cancel and receipt.status == 1 and receipt.gas_used == 21_000
    loss = 21_000 * receipt.effective_gas_price
    assert (trade.status, trade.gas_cost, trade.net_profit) == ("not_included", loss, -loss)
    assert "stuck_cancelled" in kinds


# ------------------------------------------------------------------------------------- C: not blocking


@pytest.fixture(scope="module")
def block_time_devnet() -> Iterator[Devnet]:
    with Devnet.start(DevnetOptions(block_time=2)) as node:
        yield node


def test_second_opportunity_goes_out_while_the_first_is_pending(
    block_time_devnet: Devnet, tmp_path: Path
) -> None:
    devnet = block_time_devnet
    client = deploy(devnet)
    states = load_states(devnet, (WETH, USDC, DAI))
    weth_dai = next(
        p.address
        for p in uniswap(states).pools.values()
        if isinstance(p, UniswapV2Pair) and {p.token0, p.token1} == {WETH, DAI}
    )
    open_gap(devnet)
    open_gap(devnet, weth_dai, DAI)
    states = load_states(devnet, (WETH, USDC, DAI))
    ranked = opportunities(devnet, states)
    first = ranked[0]
    second = next(o for o in ranked if not set(o.cycle.pools) & set(first.cycle.pools))
    bot = devnet.accounts[1].address

    async def scenario() -> list[set[int]]:
        ex = PublicTxExecutor(client, journal, devnet.chain_id, shadow=False)
        head = devnet.block_number()
        await until(lambda: devnet.block_number() > head)  # just after a block: the next is ~2 s away
        await ex.execute(ExecutorTxAction(opportunity=first))
        await ex.execute(ExecutorTxAction(opportunity=second))
        in_pool = pending_nonces(devnet, bot)
        await ex.close()
        return [in_pool]

    with Journal(tmp_path / "j.sqlite") as journal:
        (in_pool,) = asyncio.run(scenario())
        sends = journal.sends()
        receipts = journal.receipts()
        trades = journal.trades()
    nonces = {devnet.w3.eth.get_transaction(s.ident)["nonce"] for s in sends}  # type: ignore[arg-type]
    assert len(nonces) == 2 and in_pool == nonces  # both broadcast, both waiting in the pool together
    assert sorted(r.status for r in receipts) == [1, 1]
    assert {r.tx_hash for r in receipts} == {s.ident for s in sends}
    assert sorted((t.status, t.gross_profit) for t in trades) == sorted(
        [("included", first.gross_profit), ("included", second.gross_profit)]
    )
