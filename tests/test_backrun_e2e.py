"""The backrun path end to end on the devnet: a user's pending swap (300 WETH into the V2 WETH/USDC pair)
opens an arbitrage; the watcher sends the bundle [victim, ours] to the local relay, which builds the next
block with it. Checked to the wei: the order in the block, the executor's realized profit against the
prediction, the coinbase's receipts against the configured share, and the journal's trail.

Runs on a FIFO fork of the session replica: the relay takes over mining (automine off, its own coinbase),
which must not leak into the shared replica.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from defibots.chain.addresses import TOKENS, UNISWAP_V2_ROUTER02
from defibots.chain.calldata import calldata
from defibots.chain.mempool import bus_event, rebuild_raw_transaction
from defibots.chain.pool_discovery import discover_pools
from defibots.chain.pool_loader import load_pools
from defibots.chain.router_calls import RouterCallDecoder
from defibots.chain.rpc import JsonRpc
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise
from defibots.devnet.relay import LocalRelay
from defibots.execution.bundle_executor import BundleExecutor, _unwrapped
from defibots.execution.executor_client import ExecutorClient
from defibots.execution.inclusion import InclusionStatus
from defibots.execution.relay_client import RelayClient, RelayFanout
from defibots.execution.simulation import BUILDER_COINBASE
from defibots.foundry.accounts import dev_accounts
from defibots.foundry.anvil import AnvilConfig, AnvilNode, rpc_call
from defibots.jobs.backrun_watch import BackrunConfig, BackrunWatcher
from defibots.journal import Journal
from defibots.state.uniswap import pool_market
from defibots.strategies.amm_arb import ArbParams
from defibots.strategies.backrun import BackrunStrategy, Head

WETH, USDC = TOKENS["WETH"].address, TOKENS["USDC"].address
SHARE_BPS = 2_500


@pytest.fixture
def fork(replica: Devnet) -> Iterator[AnvilNode]:
    with AnvilNode(AnvilConfig(fork_url=replica.http_url)) as node:
        yield node


def call(url: str, method: str, *params: Any) -> Any:
    return rpc_call(url, method, list(params))


def weth_balance(url: str, who: str, block: int) -> int:
    data = calldata("balanceOf(address)", who)
    return int(call(url, "eth_call", {"to": WETH, "data": data}, hex(block)), 16)


async def until(predicate: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def test_pending_swap_is_backrun_in_the_next_block(fork: AnvilNode, tmp_path: Path) -> None:
    url = fork.http_url
    searcher, user = dev_accounts(3)[0], dev_accounts(3)[2]
    client, _ = ExecutorClient.deploy(Web3(HTTPProvider(url)), searcher, searcher.address)
    noise = MarketNoise(url, [user], seed=3)
    noise.approve_routers()
    journal_path = tmp_path / "journal.sqlite"
    config = BackrunConfig(
        rpc_url=url,
        ws_url=fork.ws_url,
        executor=client.address,
        journal_path=journal_path,
        tokens=("WETH", "USDC", "USDT"),
        params=ArbParams(base_token=WETH, max_hops=2, priority_fee=0, builder_share_bps=SHARE_BPS),
        relay_urls=(),  # set below, once the relay has a port
        shadow=False,
    )
    swap = calldata(
        "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
        300 * 10**18, 0, [WETH, USDC], user.address, 2**40,
    )  # fmt: skip
    sent: list[str] = []
    head_at_send: list[int] = []

    async def scenario() -> BackrunWatcher:
        relay = await LocalRelay(url, block_time=1.5).start()
        try:
            watcher = BackrunWatcher(replace(config, relay_urls=(relay.url,)), searcher, Account.create())
            task = asyncio.create_task(watcher.run(60))
            await until(lambda: watcher.pool_collector.blocks_seen >= 1, 20)
            blocks = len(relay.blocks)
            await until(lambda: len(relay.blocks) > blocks, 5)  # send early in a fresh slot
            head_at_send.append(int(call(url, "eth_blockNumber"), 16))
            sent.append(noise.send(user, UNISWAP_V2_ROUTER02, swap, gas=300_000))
            stats = watcher.executor.stats
            await until(lambda: stats.included + stats.not_included + stats.conflicted + stats.stale > 0, 20)
            await watcher.engine.stop()
            await task
            return watcher
        finally:
            await relay.stop()

    watcher = asyncio.run(scenario())
    ex = watcher.executor
    assert ex.stats.included == 1, (ex.stats, watcher.strategy.stats)
    action = watcher.strategy.last
    assert action is not None and action.victim.hash == sent[0]
    result = ex.results[0]
    target = action.target_block
    assert target == head_at_send[0] + 1  # the block right after the one the victim was sent in
    assert result.status is InclusionStatus.INCLUDED and result.included_block == target

    # [victim, ours] at consecutive positions of the target block, victim first
    block = call(url, "eth_getBlockByNumber", hex(target), True)
    hashes = [tx["hash"] for tx in block["transactions"]]
    i = hashes.index(sent[0])
    ours = block["transactions"][i + 1]
    assert result.outcomes[target].tx_indexes == (i, i + 1)
    assert ours["from"].lower() == searcher.address.lower() and ours["to"].lower() == client.address.lower()

    # realized profit: the executor's WETH balance across the block equals the prediction, to the wei
    realized = weth_balance(url, client.address, target) - weth_balance(url, client.address, target - 1)
    opp = action.opportunity
    assert realized == action.executor_profit == opp.gross_profit - opp.builder_payment > 0

    # builder payment: exactly the configured share of the gross profit, all the coinbase got besides tips
    share = opp.gross_profit * SHARE_BPS // 10_000
    assert action.builder_payment == share > 0
    assert block["miner"].lower() == BUILDER_COINBASE.lower()
    base_fee = int(block["baseFeePerGas"], 16)
    tips = 0
    for tx in block["transactions"]:
        receipt = call(url, "eth_getTransactionReceipt", tx["hash"])
        tips += int(receipt["gasUsed"], 16) * (int(receipt["effectiveGasPrice"], 16) - base_fee)
    coinbase_gain = int(call(url, "eth_getBalance", block["miner"], hex(target)), 16) - int(
        call(url, "eth_getBalance", block["miner"], hex(target - 1)), 16
    )
    assert coinbase_gain - tips == share
    our_receipt = call(url, "eth_getTransactionReceipt", ours["hash"])
    assert int(our_receipt["effectiveGasPrice"], 16) == base_fee  # priority fee 0: paid by the share
    assert _unwrapped(our_receipt, client.address) == share  # the fallback reading without a debug API

    # the journal's trail: opportunity -> simulation -> send -> receipt -> pnl
    with Journal(journal_path) as journal:
        (record,) = journal.opportunities()
        (sim,) = journal.simulations()
        (send,) = journal.sends()
        (receipt,) = journal.receipts()
        (pnl,) = journal.pnl()
    assert record.strategy == "backrun" and record.details["victim"] == sent[0]
    assert int(record.details["executor_profit"]) == realized
    assert sim.success and sim.opportunity_id == record.id and sim.profit == realized
    assert send.kind == "bundle" and send.opportunity_id == record.id and send.block_number == target
    assert send.tx_hashes == (sent[0], ours["hash"]) and send.builder_payment == share
    assert receipt.send_id == send.id and receipt.status == 1 and receipt.tx_hash == ours["hash"]
    gas_cost = int(our_receipt["gasUsed"], 16) * base_fee
    assert (pnl.send_id, pnl.status, pnl.block_number) == (send.id, "included", target)
    assert (pnl.gross_profit, pnl.builder_payment, pnl.gas_cost) == (opp.gross_profit, share, gas_cost)
    assert pnl.net_profit == opp.gross_profit - share - gas_cost


def test_nothing_is_sent_unless_the_simulation_matches_the_prediction(
    fork: AnvilNode, tmp_path: Path
) -> None:
    """A prediction one wei off, a shadow run and a victim that is our own: journaled, never sent."""
    url = fork.http_url
    searcher, user = dev_accounts(3)[0], dev_accounts(3)[2]
    client, _ = ExecutorClient.deploy(Web3(HTTPProvider(url)), searcher, searcher.address)
    noise = MarketNoise(url, [user], seed=4)
    noise.approve_routers()
    rpc = JsonRpc(url)
    states = pool_market(load_pools(rpc, discover_pools(rpc, [WETH, USDC])).values())
    latest = call(url, "eth_getBlockByNumber", "latest", False)
    number, base_fee, used, limit = (
        int(latest[k], 16) for k in ("number", "baseFeePerGas", "gasUsed", "gasLimit")
    )
    head = Head(number, latest["hash"], int(latest["timestamp"], 16), base_fee, used, limit)
    params = ArbParams(base_token=WETH, max_hops=2, priority_fee=0, builder_share_bps=SHARE_BPS)
    strategy = BackrunStrategy(states, params, head)

    async def scenario() -> tuple[LocalRelay, list[BundleExecutor]]:
        relay = await LocalRelay(url, block_time=None).start()  # automine off: the victim stays pending
        executors = []
        try:
            swap = calldata(
                "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
                300 * 10**18, 0, [WETH, USDC], user.address, 2**40,
            )  # fmt: skip
            tx_hash = noise.send(user, UNISWAP_V2_ROUTER02, swap, gas=300_000)
            pending = call(url, "eth_getTransactionByHash", tx_hash)
            decoded = RouterCallDecoder().decode_transaction(pending, rebuild_raw_transaction(pending))
            assert decoded is not None
            action = strategy.plan(bus_event(decoded, 31337))
            assert action is not None
            off_by_one = replace(
                action, opportunity=replace(action.opportunity, amount_out=action.opportunity.amount_out + 1)
            )
            journal = Journal(tmp_path / "journal.sqlite")
            for signer, shadow, act in (
                (searcher, False, off_by_one),
                (searcher, True, action),
                (user, False, action),
            ):
                fanout = RelayFanout([RelayClient(relay.url, Account.create())])
                executor = BundleExecutor(client, signer, url, fanout, journal, 31337, shadow=shadow)
                executors.append(executor)
                try:
                    await executor.execute(act)
                finally:
                    await executor.close()
            journal.close()
            return relay, executors
        finally:
            await relay.stop()

    relay, (wrong, shadow, own) = asyncio.run(scenario())
    assert relay.requests == 0 and relay.history == {}
    assert (wrong.stats.stale, wrong.stats.sent) == (1, 0)
    assert (shadow.stats.simulated, shadow.stats.stale, shadow.stats.sent) == (1, 0, 0)
    assert (own.stats.refused, own.stats.simulated) == (1, 0)
    with Journal(tmp_path / "journal.sqlite") as journal:
        sims = list(reversed(journal.simulations()))
        assert len(journal.opportunities()) == 3 and journal.sends() == []
    predicted = strategy.last.executor_profit if strategy.last else 0
    assert not sims[0].success
    assert sims[0].error == f"stale: simulated profit {predicted} != predicted {predicted + 1}"
    assert sims[1].success and sims[1].profit == predicted > 0
    assert sims[2].error == "refused: the victim is our own transaction"
