"""Leveraged Aave loops on the replica, through the real AaveLoop contract: the position a step leaves equals
its simulation to the wei (same block timestamp), and what a close returns is what the journal lists."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from defibots.devnet.aave_replica import set_aave_price
from defibots.devnet.node import Devnet
from defibots.errors import UserError
from defibots.execution.loop_operator import LoopOperator, Planned
from defibots.foundry.accounts import dev_account
from defibots.journal import Journal

D = Decimal


def operator(devnet: Devnet, tmp_path: Path, account: int = 3) -> LoopOperator:
    return LoopOperator(devnet.http_url, dev_account(account), tmp_path / "journal.sqlite", 31337)


def next_time(devnet: Devnet) -> int:
    return int(devnet.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16) + 1


def execute_at_simulated_time(devnet: Devnet, op: LoopOperator, planned: Planned) -> None:
    devnet.rpc("evm_setNextBlockTimestamp", planned.simulation.timestamp)
    done = op.execute(planned)
    assert done.timestamp == planned.simulation.timestamp
    assert done.holdings == planned.simulation.holdings  # aToken and debt balances, to the wei
    assert done.health_factor == planned.simulation.account.health_factor
    assert op.client.account(done.block_number) == planned.simulation.account


def test_open_adjust_close_equal_their_simulations(devnet: Devnet, tmp_path: Path) -> None:
    op = operator(devnet, tmp_path)
    shadow = op.plan_open("WETH", "USDC", D(10), D(3), D("1.1"), 30)  # nothing deployed yet: simulated too
    assert shadow.simulation.ok and not op.deployed
    assert abs(shadow.leverage_after - 3) < D("0.02")
    op.prepare(shadow)  # deploy + approve, each simulated with the step above
    assert op.deployed
    planned = op.plan_open("WETH", "USDC", D(10), D(3), D("1.1"), 30, timestamp=next_time(devnet))
    execute_at_simulated_time(devnet, op, planned)
    hf_open = planned.simulation.account.health_factor
    assert 1.1e18 < hf_open < 1.4e18

    set_aave_price(devnet.http_url, "WETH", 2_700 * 10**8)  # ETH -10%: the loop is more levered now
    down = op.plan_adjust("WETH", "USDC", D(3), D("1.05"), 30, timestamp=next_time(devnet))
    assert down.step.kind == "repay"
    execute_at_simulated_time(devnet, op, down)
    assert abs(down.leverage_after - 3) < D("0.05")

    tokens = planned.market.collateral.address, planned.market.debt.address
    before = op.client.wallet(tokens[0]), op.client.wallet(tokens[1])
    close = op.plan_close("WETH", "USDC", 30, timestamp=next_time(devnet))
    execute_at_simulated_time(devnet, op, close)
    after = op.client.wallet(tokens[0]), op.client.wallet(tokens[1])
    returned = (after[0] - before[0], after[1] - before[1])
    assert returned == close.returned and returned[0] > 0
    assert op.client.account().debt_base == 0 and op.client.account().collateral_base == 0

    with Journal(tmp_path / "journal.sqlite") as journal:
        entries = journal.strategy_pnl(strategy="aave_loop")
        position = journal.positions(protocol="aave_v3")[0]
        history = journal.position_history(position.id or 0)
    by_kind: dict[tuple[str, str], int] = {}
    for e in entries:
        by_kind[(e.kind, e.token)] = by_kind.get((e.kind, e.token), 0) + e.amount
    assert by_kind[("returned", "WETH")] == returned[0]
    assert by_kind[("deposit", "WETH")] == -10 * 10**18
    premiums = by_kind[("flash_premium", "WETH")] + by_kind.get(("flash_premium", "USDC"), 0)
    assert premiums < 0 and by_kind[("gas", "ETH")] < 0
    # the close returns the deposit less the costs the journal lists, to the wei, in each token: the swaps
    # (as the receipts' Transfer logs show them), the flash premiums and the interest Aave's indexes added
    for token in ("WETH", "USDC"):
        costs = sum(by_kind.get((kind, token), 0) for kind in ("swap", "flash_premium", "interest"))
        moved = by_kind.get(("deposit", token), 0) + by_kind.get(("returned", token), 0)
        assert moved == costs, token
    swaps = [e for e in entries if e.kind == "swap"]
    steps = [planned.step, down.step, close.step]
    for step in steps:  # each swap line is the step's own swap: exactly its input, the model's output
        ref = [e for e in swaps if e.ref.startswith(f"{step.kind}:")]
        paid = -step.swap_in
        got = step.predicted_out
        assert sorted(e.amount for e in ref) == sorted([paid, got]), step.kind
    assert by_kind[("interest", "USDC")] < 0 < by_kind[("interest", "WETH")]  # debt and supply accrued
    history = sorted(history, key=lambda s: s.block_number)
    assert [s.status for s in history] == ["open", "open", "closed"] and position.status == "closed"
    assert history[0].health_factor == hf_open


def test_bad_requests_are_one_error_and_send_nothing(devnet: Devnet, tmp_path: Path) -> None:
    op = operator(devnet, tmp_path, account=4)
    nonce = devnet.w3.eth.get_transaction_count(op.signer.address)
    with pytest.raises(UserError, match=r"above the maximum 4\.88 for WETH"):
        op.plan_open("WETH", "USDC", D(1), D(6), D("1.1"), 30)
    with pytest.raises(UserError, match="unknown Aave reserve PEPE"):
        op.plan_open("PEPE", "USDC", D(1), D(2), D("1.1"), 30)
    with pytest.raises(UserError, match=r"below 1\.05"):
        op.plan_open("WETH", "USDC", D(1), D(2), D("1.01"), 30)
    with pytest.raises(UserError, match="open one first"):
        op.plan_close("WETH", "USDC", 30)
    with pytest.raises(UserError, match="simulation reverted"):
        op.plan_open("WETH", "USDC", D(1), D(3), D("3"), 30)  # the health-factor guard
    assert devnet.w3.eth.get_transaction_count(op.signer.address) == nonce
