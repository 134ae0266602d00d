"""`SimulateV1Simulator` against the mined-block reference: the same bundle on the same state block and time,
simulated by eth_simulateV1 on the node and by really mining it on a private fork, must agree on every
transaction's success, gas, fees, output, logs and ETH changes (the prestate diff of the mined block).

The bundle is the liquidation race's own: a signed feed update that takes a borrower under HF 1, our
Liquidator's liquidation paying the builder, a plain ETH transfer to the builder, and a liquidation that
reverts (the borrower is already liquidated). A bundle that cannot run (a nonce gap, a fee cap
below the base fee, no funds for gas) fails on both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from eth_account import Account
from tests.chain.aave_world import load_store
from tests.execution.test_liquidation_bundles import PRICE_AFTER, USDC, WETH, call, setup_world

from defibots.chain.pool_discovery import discover_pools
from defibots.chain.pool_loader import load_pools
from defibots.chain.rpc import JsonRpc
from defibots.devnet.aave_replica import price_update_tx
from defibots.devnet.node import Devnet
from defibots.devnet.relay import LocalRelay
from defibots.errors import UserError
from defibots.execution.bundles import Bundle, FeeDefaults, SignedTx, TxRequest, sign_request
from defibots.execution.liquidator import liquidate_calldata
from defibots.execution.simulation import (
    AnvilSimulator,
    BundleSimulationError,
    BundleSimulator,
    SimulationResult,
)
from defibots.execution.simulation.simulate_v1 import SimulateV1Simulator
from defibots.foundry.accounts import dev_accounts
from defibots.foundry.anvil import AnvilConfig, AnvilNode
from defibots.protocols.liquidation_plan import LiquidationCosts, plan_liquidation
from defibots.state.aave import aave, account_positions

pytestmark = pytest.mark.devnet

BUILDER_PAY = 3 * 10**16


@pytest.fixture
def fork(replica: Devnet) -> Iterator[AnvilNode]:
    with AnvilNode(AnvilConfig(fork_url=replica.http_url)) as node:
        yield node


def race_bundle(url: str) -> tuple[Bundle, int, int, list[str]]:
    """[update, liquidation paying the builder, ETH to the builder, a reverting liquidation]; with the
    state block, the target time and the addresses to watch."""
    user, client = setup_world(url)
    rpc = JsonRpc(url)
    market, _ = load_store(rpc, [user])
    pools = list(load_pools(rpc, discover_pools(rpc, [WETH, USDC])).values())
    head = call(url, "eth_getBlockByNumber", "latest", False)
    state_block, when = int(head["number"], 16), int(head["timestamp"], 16) + 12
    base_fee = int(head["baseFeePerGas"], 16)
    prices = {WETH: PRICE_AFTER}
    costs = LiquidationCosts(5, gas=450_000, gas_price=2 * base_fee, weth_price=PRICE_AFTER)
    plan = plan_liquidation(user, account_positions(aave(market), user, prices), when, pools, costs)
    assert plan is not None and plan.gross_profit > 0
    searcher, other = dev_accounts(3)[0], dev_accounts(3)[2]
    fees = FeeDefaults(base_fee=base_fee)
    nonce = int(call(url, "eth_getTransactionCount", searcher.address, "latest"), 16)
    chain_id = int(call(url, "eth_chainId"), 16)
    ours = [
        TxRequest(to=client.address, data=liquidate_calldata(plan, plan.gross_profit, BUILDER_PAY)),
        TxRequest(to=AnvilSimulator(url).coinbase, value=10**15),
        TxRequest(to=client.address, data=liquidate_calldata(plan, 0, 0)),
    ]
    signers = [searcher, other, searcher]
    nonces = [nonce, int(call(url, "eth_getTransactionCount", other.address, "latest"), 16), nonce + 1]
    txs = [SignedTx.decode(bytes.fromhex(price_update_tx(url, "WETH", PRICE_AFTER)[2:]))]
    txs += [
        sign_request(who, request, chain_id, n, 900_000, fees)
        for who, request, n in zip(signers, ours, nonces, strict=True)
    ]
    watch = [client.address, searcher.address, other.address, AnvilSimulator(url).coinbase]
    return Bundle(tuple(txs), state_block + 1), state_block, when, watch


async def both(
    url: str, bundle: Bundle, state_block: int, when: int, watch: list[str]
) -> list[SimulationResult]:
    out = []
    simulators: tuple[BundleSimulator, ...] = (AnvilSimulator(url, fork=True), SimulateV1Simulator(url))
    for simulator in simulators:
        async with simulator as sim:
            out.append(await sim.simulate(bundle, state_block=state_block, timestamp=when, watch=watch))
    return out


def test_simulate_v1_equals_the_mined_block(fork: AnvilNode) -> None:
    url = fork.http_url
    bundle, state_block, when, watch = race_bundle(url)
    mined, simulated = asyncio.run(both(url, bundle, state_block, when, watch))
    assert [t.success for t in mined.txs] == [True, True, True, False]  # the scenario is what it claims
    assert mined.txs[1].eth_sent_to_coinbase == BUILDER_PAY
    assert simulated.backend == "eth_simulateV1"
    for m, s in zip(mined.txs, simulated.txs, strict=True):
        assert (s.success, s.gas_used, s.gas_fees, s.coinbase_diff) == (
            m.success, m.gas_used, m.gas_fees, m.coinbase_diff
        )  # fmt: skip
        assert (s.output, s.revert_reason, s.logs) == (m.output, m.revert_reason, m.logs)
        assert s.eth_changes == m.eth_changes
    assert (simulated.base_fee, simulated.timestamp, simulated.block_number, simulated.state_block) == (
        mined.base_fee, mined.timestamp, mined.block_number, mined.state_block
    )  # fmt: skip
    assert simulated.eth_changes == mined.eth_changes
    assert simulated.token_changes == mined.token_changes
    assert simulated.call_bundle_response() == mined.call_bundle_response()


@pytest.mark.parametrize("broken", ["nonce_gap", "fee_cap_below_base_fee", "no_funds_for_gas"])
def test_a_bundle_that_cannot_run_fails_on_both(fork: AnvilNode, broken: str) -> None:
    url = fork.http_url
    bundle, state_block, when, _ = race_bundle(url)
    chain_id = int(call(url, "eth_chainId"), 16)
    if broken == "nonce_gap":  # our second liquidation without the first
        txs = (bundle.txs[0], bundle.txs[3])
    elif broken == "fee_cap_below_base_fee":
        rich = dev_accounts(5)[4]
        nonce = int(call(url, "eth_getTransactionCount", rich.address, "latest"), 16)
        low = sign_request(rich, TxRequest(to=WETH), chain_id, nonce, 50_000, FeeDefaults(0, 0))
        txs = (bundle.txs[0], low)
    else:
        poor = sign_request(Account.create(), TxRequest(to=WETH), chain_id, 0, 50_000, FeeDefaults(10**9))
        txs = (bundle.txs[0], poor)
    simulators: tuple[BundleSimulator, ...] = (AnvilSimulator(url, fork=True), SimulateV1Simulator(url))
    for simulator in simulators:

        async def run(sim: BundleSimulator = simulator) -> None:
            async with sim:
                await sim.simulate(Bundle(txs, state_block + 1), state_block=state_block, timestamp=when)

        with pytest.raises(BundleSimulationError):
            asyncio.run(run())


def test_a_node_without_eth_simulate_v1_is_one_clear_error(fork: AnvilNode) -> None:
    """The local relay speaks JSON-RPC but not eth_simulateV1, as many hosted RPCs."""

    async def start_on_relay() -> None:
        relay = await LocalRelay(fork.http_url, block_time=None).start()
        simulator = SimulateV1Simulator(relay.url)
        try:
            await simulator.start()
        finally:
            await simulator.close()
            await relay.stop()

    with pytest.raises(UserError, match=r"does not answer eth_simulateV1 .*--simulation fork"):
        asyncio.run(start_on_relay())
