"""Liquidations as bundles, end to end on a fork of the replica with the local relay building the blocks.

A borrower sits just above HF 1; a signed WETH feed update that takes it under 1 waits in the mempool. The
watcher (the whole job: store, listener, mempool watcher, strategy, executor) sends [update, our
liquidation] for the block the update lands in; the relay builds that block. Checked on the chain: the
order in the block, the collateral seized and the profit against the plan, to the wei, and the journal.
With the devnet's rival paying the builder more, the rival's bundle lands instead: ours costs nothing and
is journaled as lost, naming the winner's transaction. Malformed and reverting updates ahead of the real
one are counted and skipped, and the watcher goes on.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from eth_account import Account
from tests.protocols.aave_v3.replica_state import AaveOnChain
from tests.protocols.conftest import JsonRpc as ContractRpc
from web3 import HTTPProvider, Web3

from defibots.chain.addresses import TOKENS
from defibots.devnet.aave_replica import feed_aggregator, send_price_update, update_calldata
from defibots.devnet.node import Devnet
from defibots.devnet.relay import LocalRelay
from defibots.devnet.rival import RivalLiquidator, Target
from defibots.execution.liquidator import LiquidatorClient, parse_liquidated
from defibots.foundry.accounts import dev_accounts
from defibots.foundry.anvil import AnvilConfig, AnvilNode, rpc_call
from defibots.jobs.liquidation_watch import LiquidationWatchConfig, LiquidationWatcher
from defibots.state.aave import LIQUIDATION_CALL
from defibots.strategies.liquidations import LiquidationParams

pytestmark = pytest.mark.devnet

WETH, USDC = TOKENS["WETH"].address, TOKENS["USDC"].address
PRICE_AFTER = 2_805 * 10**8  # 10 WETH against 24,000 USDC: HF 1.04 at $3,000, 0.97 after


@pytest.fixture
def fork(replica: Devnet) -> Iterator[AnvilNode]:
    with AnvilNode(AnvilConfig(fork_url=replica.http_url)) as node:
        yield node


def call(url: str, method: str, *params: Any) -> Any:
    return rpc_call(url, method, list(params))


async def until(predicate: Callable[[], bool], timeout_s: float, why: Callable[[], Any] = str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in time: {why()}")
        await asyncio.sleep(0.02)


def setup_world(url: str) -> tuple[str, LiquidatorClient]:
    """Dev account 3 borrows 24,000 USDC on 10 WETH; dev account 0 deploys a Liquidator funded with 5 ETH."""
    accounts = dev_accounts(5)
    user, searcher = accounts[3].address, accounts[0]
    rpc = ContractRpc(url)
    try:
        chain = AaveOnChain(rpc)
        pool = chain.pool.address
        chain.send(user, WETH, chain.erc20(WETH), "approve", pool, 10 * 10**18)
        chain.send(user, pool, chain.pool, "supply", WETH, 10 * 10**18, user, 0)
        chain.send(user, pool, chain.pool, "borrow", USDC, 24_000 * 10**6, 2, 0, user)
    finally:
        rpc.close()
    client = LiquidatorClient.deploy(Web3(HTTPProvider(url)), searcher)
    tx = {"from": searcher.address, "to": client.address, "value": hex(5 * 10**18)}
    call(url, "eth_sendTransaction", tx)
    return user, client


Simulation = Literal["node", "fork"]


def watcher_for(
    url: str, ws: str, liquidator: str, journal: Path, relay: str, simulation: Simulation = "node"
) -> LiquidationWatcher:
    config = LiquidationWatchConfig(
        rpc_url=url, ws_url=ws, liquidator=liquidator, journal_path=journal, relay_urls=(relay,),
        params=LiquidationParams(weth=WETH, block_time=12, builder_share_bps=2_000), shadow=False,
        simulation=simulation,
    )  # fmt: skip
    return LiquidationWatcher(config, dev_accounts(1)[0], Account.create())


@pytest.mark.parametrize("simulation", ["node", "fork"])
def test_pending_update_is_backrun_by_our_liquidation_in_its_block(
    fork: AnvilNode, tmp_path: Path, simulation: Simulation
) -> None:
    url = fork.http_url
    user, client = setup_world(url)
    at: dict[str, int] = {}
    updates: dict[str, str] = {}

    async def scenario() -> LiquidationWatcher:
        relay = await LocalRelay(url, block_time=None).start()
        head = call(url, "eth_getBlockByNumber", "latest", False)  # after the relay took over mining
        at["target"], at["when"] = int(head["number"], 16) + 1, int(head["timestamp"], 16) + 12
        try:
            watcher = watcher_for(
                url, fork.ws_url, client.address, tmp_path / "j.sqlite", relay.url, simulation
            )
            task = asyncio.create_task(watcher.run(60))
            await asyncio.sleep(0.5)
            # a malformed update (cut calldata) and one from a key the feed refuses (it would revert), from
            # two other senders (a pending tx of the updater's own would hold its next nonce back)
            transmit = update_calldata(url, "WETH", PRICE_AFTER)
            updates["malformed"] = _foreign_update(url, 5, transmit[:-64])  # the report cut short
            updates["reverting"] = _foreign_update(url, 6, transmit)
            ex = watcher.executor.stats
            await until(lambda: ex.update_reverts >= 1 and watcher.mempool.stats.decode_errors >= 1, 15)
            updates["real"] = send_price_update(url, "WETH", PRICE_AFTER)
            await until(lambda: ex.sent >= 1, 15, lambda: (ex, watcher.strategy.stats))
            report = await relay.build_block(timestamp=at["when"])
            updates["block_bundles"] = ",".join(report.included)
            await until(lambda: ex.included + ex.lost + ex.not_included > 0, 15)
            await watcher.engine.stop()
            await task
            return watcher
        finally:
            await relay.stop()

    watcher = asyncio.run(scenario())
    target, when = at["target"], at["when"]
    ex = watcher.executor.stats
    assert ex.included >= 1 and ex.lost == 0, (ex, watcher.strategy.stats)
    assert watcher.mempool.stats.decode_errors == 1 and ex.update_reverts == 1

    block = call(url, "eth_getBlockByNumber", hex(target), True)
    assert int(block["timestamp"], 16) == when
    hashes = [tx["hash"] for tx in block["transactions"]]
    ours_at = hashes.index(updates["real"]) + 1
    assert hashes[0] == updates["real"]  # the update first, our liquidations right after it
    mine = [r for r in ex.results if r["user"].lower() == user.lower()]
    assert len(mine) == 1 and mine[0]["status"] == "included"
    receipt = call(url, "eth_getTransactionReceipt", mine[0]["tx"])
    assert hashes.index(mine[0]["tx"]) >= ours_at
    event = parse_liquidated(receipt, client.address)
    assert event is not None and event.user.lower() == user.lower()
    assert event.collateral_seized == mine[0]["predicted_seized"] > 0
    assert event.profit == mine[0]["predicted_profit"] > 0
    # the Pool's own log agrees: debt covered and collateral sent to us
    (pool_log,) = [lg for lg in receipt["logs"] if lg["topics"][0] == LIQUIDATION_CALL]
    data = bytes.fromhex(pool_log["data"][2:])
    assert int.from_bytes(data[:32], "big") == event.debt_covered
    assert int.from_bytes(data[32:64], "big") == event.collateral_seized

    db = sqlite3.connect(tmp_path / "j.sqlite")
    statuses = [s for (s,) in db.execute("SELECT status FROM pnl")]
    kinds = [k for (k,) in db.execute("SELECT kind FROM errors")]
    backends = {b for (b,) in db.execute("SELECT backend FROM simulations")}
    db.close()
    assert "included" in statuses and "malformed_price_update" in kinds
    assert backends == {"eth_simulateV1" if simulation == "node" else "anvil_bundle"}


def test_a_rival_paying_more_wins_and_ours_is_journaled_lost(fork: AnvilNode, tmp_path: Path) -> None:
    url = fork.http_url
    user, client = setup_world(url)
    rival = RivalLiquidator(
        url, "", dev_accounts(5)[4], [Target(user, WETH, USDC)], delay_s=0.0, tip_gwei=50_000
    )
    rival.approve()
    at: dict[str, int] = {}
    eth_before = int(call(url, "eth_getBalance", client.address, "latest"), 16)

    async def scenario() -> LiquidationWatcher:
        relay = await LocalRelay(url, block_time=None).start()
        head = call(url, "eth_getBlockByNumber", "latest", False)  # after the relay took over mining
        at["target"], at["when"] = int(head["number"], 16) + 1, int(head["timestamp"], 16) + 12
        rival.relay_url = relay.url
        rival_task = asyncio.create_task(rival.run())
        try:
            watcher = watcher_for(url, fork.ws_url, client.address, tmp_path / "j.sqlite", relay.url)
            task = asyncio.create_task(watcher.run(60))
            await asyncio.sleep(0.5)
            send_price_update(url, "WETH", PRICE_AFTER)
            ex = watcher.executor.stats
            await until(lambda: ex.sent >= 1 and rival.stats.bundles >= 1, 15)
            await relay.build_block(timestamp=at["when"])
            await until(lambda: ex.included + ex.lost + ex.not_included > 0, 15)
            await watcher.engine.stop()
            await task
            return watcher
        finally:
            rival_task.cancel()
            await asyncio.gather(rival_task, return_exceptions=True)
            await relay.stop()

    watcher = asyncio.run(scenario())
    target = at["target"]
    ex = watcher.executor.stats
    assert ex.lost >= 1 and ex.included == 0, ex
    (lost,) = [r for r in ex.results if r["user"].lower() == user.lower()]
    winner = rival.stats.sent[0]
    assert lost["status"] == "lost" and lost["winner_tx"] == winner
    block = call(url, "eth_getBlockByNumber", hex(target), False)
    assert winner in block["transactions"]
    # all or nothing: nothing of ours landed, and the Liquidator paid nothing
    assert int(call(url, "eth_getTransactionCount", dev_accounts(1)[0].address, hex(target)), 16) == int(
        call(url, "eth_getTransactionCount", dev_accounts(1)[0].address, hex(target - 1)), 16
    )
    assert int(call(url, "eth_getBalance", client.address, "latest"), 16) == eth_before
    db = sqlite3.connect(tmp_path / "j.sqlite")
    rows = list(db.execute("SELECT kind, payload FROM errors WHERE kind = 'lost'"))
    db.close()
    assert len(rows) >= 1 and winner in rows[0][1]


def _foreign_update(url: str, account: int, data: str) -> str:
    """A call to the WETH aggregator signed by a dev account, not one of its transmitters (a `transmit`
    reverts "unauthorized transmitter")."""
    stranger = dev_accounts(account + 1)[account]
    head = call(url, "eth_getBlockByNumber", "latest", False)
    tx = {
        "type": 2, "chainId": int(call(url, "eth_chainId"), 16),
        "nonce": int(call(url, "eth_getTransactionCount", stranger.address, "pending"), 16),
        "to": feed_aggregator("WETH"), "value": 0, "gas": 250_000,
        "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 2 * int(head["baseFeePerGas"], 16) + 10**9,
        "data": data,
    }  # fmt: skip
    raw = stranger.sign_transaction(tx).raw_transaction
    return str(call(url, "eth_sendRawTransaction", "0x" + bytes(raw).hex()))
