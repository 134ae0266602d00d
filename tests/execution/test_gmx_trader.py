"""The GMX trader on the Arbitrum replica with the devnet keeper + oracle service: an open with a take
profit and a stop loss executed by the keeper, the take profit fired by a price move, the journal's P&L
equal to the wallet's balance changes to the wei; a keeper-cancelled order retried within its budget."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from eth_abi import decode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hexbytes import HexBytes

from defibots.chain.calldata import calldata
from defibots.chain.gmx import events as E
from defibots.chain.gmx.deployment import gmx_deployment
from defibots.chain.gmx.oracle_client import GmxOracleClient
from defibots.devnet.gmx_service import GmxService, GmxServiceConfig, gmx_service
from defibots.devnet.node import Devnet
from defibots.errors import UserError
from defibots.execution.gmx_journal import STRATEGY, WALLET_KINDS
from defibots.execution.gmx_lifecycle import RetryPolicy
from defibots.execution.gmx_trader import GmxTrader, OpenRequest
from defibots.journal import Journal

pytestmark = pytest.mark.devnet

USD = 10**30
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"


@pytest.fixture
def svc(arb_devnet: Devnet) -> Iterator[GmxService]:
    with gmx_service(GmxServiceConfig(arb_devnet.http_url, poll_seconds=0.1)) as service:
        yield service


def trader_for(
    devnet: Devnet, svc: GmxService, path: Path, signer: LocalAccount, attempts: int = 3
) -> GmxTrader:
    return GmxTrader(
        devnet.http_url, gmx_deployment(31338), GmxOracleClient(svc.url), path, signer=signer,
        retry=RetryPolicy(attempts, 0.0), order_timeout=30,
    )  # fmt: skip


def usdc_balance(devnet: Devnet, who: str) -> int:
    raw = devnet.w3.eth.call({"to": USDC, "data": calldata("balanceOf(address)", who)})  # type: ignore[typeddict-item]
    return int(decode(["uint256"], raw)[0])


def wallet(devnet: Devnet, who: str) -> tuple[int, int]:
    return int(devnet.w3.eth.get_balance(who)), usdc_balance(devnet, who)  # type: ignore[arg-type]


def journal_totals(path: Path) -> dict[str, int]:
    with Journal(path) as j:
        entries = j.strategy_pnl(limit=100_000, strategy=STRATEGY)
    assert {e.kind for e in entries} <= set(WALLET_KINDS)
    out: dict[str, int] = {}
    for e in entries:
        out[e.token] = out.get(e.token, 0) + e.amount
    return out


def wait_until(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_open_long_with_tp_sl_then_take_profit_and_journal_equals_chain(
    arb_devnet: Devnet, svc: GmxService, tmp_path: Path
) -> None:
    user = arb_devnet.accounts[4]
    journal = tmp_path / "journal.sqlite"
    trader = trader_for(arb_devnet, svc, journal, user)
    eth_before, usdc_before = wallet(arb_devnet, user.address)
    req = OpenRequest("ETH", True, "USDC", Decimal(1000), Decimal(5), Decimal(3300), Decimal(2700), 30)
    plan = trader.plan_open(req)
    assert plan.ok and len(plan.calls) == 2 and len(plan.orders) == 3  # approve + multicall; main, TP, SL
    assert plan.size_delta_usd == 1000 * 10**6 * usdc_price_min(svc) * 5  # collateral at its min price x 5
    done = trader.execute(plan)
    assert done.status == "executed", done
    (view,) = trader.positions()
    assert view.is_long and view.size_usd == plan.size_delta_usd
    assert view.liquidation_price is not None and view.liquidation_price < view.mark_price
    assert view.close_fee_usd > 0

    svc.oracle.set_usd("WETH", Decimal(3400))
    wait_until(lambda: trader.reader.account_positions(user.address) == [])
    wait_until(lambda: trader.reader.account_orders(user.address) == [])  # the stop loss went with it
    assert trader.sync() == 2  # take profit executed, stop loss auto-cancelled

    with Journal(journal) as j:
        orders = {o.details["role"]: o for o in j.orders(venue="gmx_v2")}
        assert {r: o.status for r, o in orders.items()} == {
            "main": "filled", "take_profit": "filled", "stop_loss": "canceled"
        }  # fmt: skip
        fills = j.fills()
        assert len(fills) == 2 and all(f.fee > 0 and f.fee_currency == "USDC" for f in fills)
        (position,) = j.positions(protocol="gmx_v2")
        assert position.status == "closed" and position.side == "long"
        history = j.position_history(position.id or 0)
        assert [s.status for s in history] == ["closed", "open"]
        assert history[0].pnl is not None and history[0].pnl > 0
        assert any("AUTO_CANCEL" in e.message for e in j.errors())
        assert len(j.sends()) == 2 and all(r.status == 1 for r in j.receipts())

    eth_after, usdc_after = wallet(arb_devnet, user.address)
    totals = journal_totals(journal)
    assert totals["ETH"] == eth_after - eth_before  # gas + execution fees - refunds, to the wei
    assert totals["USDC"] == usdc_after - usdc_before  # collateral in, collateral + profit - fees out
    assert totals["USDC"] > 0  # the take profit made money


def usdc_price_min(svc: GmxService) -> int:
    return svc.oracle.price(USDC).min


def test_keeper_cancelled_order_is_retried_at_most_n_times(
    arb_devnet: Devnet, svc: GmxService, tmp_path: Path
) -> None:
    user = arb_devnet.accounts[5]
    journal = tmp_path / "journal.sqlite"
    trader = trader_for(arb_devnet, svc, journal, user, attempts=3)
    start = arb_devnet.w3.eth.block_number
    eth_before, usdc_before = wallet(arb_devnet, user.address)
    # zero slippage: the acceptable price is the oracle's max, the price impact of opening pushes the
    # execution price above it, and the keeper cancels with OrderNotFulfillableAtAcceptablePrice
    plan = trader.plan_open(OpenRequest("ETH", True, "USDC", Decimal(500), Decimal(10), slippage_bps=0))
    done = trader.execute(plan)
    assert done.status == "retries_exhausted" and "ALERT" in done.alert
    assert len(done.attempts) == 3
    for a in done.attempts:
        assert a.outcome is not None and a.outcome.cancelled
        assert a.outcome.reason.startswith("OrderNotFulfillableAtAcceptablePrice(")
    logs = arb_devnet.w3.eth.get_logs(
        {"address": trader.d.event_emitter, "fromBlock": start, "toBlock": "latest",
         "topics": [HexBytes(E.event_log_topics()["EventLog2"]), HexBytes(keccak(text="OrderCreated"))]}
    )  # type: ignore[arg-type]  # fmt: skip
    created = [E.decode_event_log(log) for log in logs]  # type: ignore[arg-type]
    assert len([e for e in created if e.items["account"] == user.address]) == 3
    with Journal(journal) as j:
        assert [o.status for o in j.orders(venue="gmx_v2")] == ["canceled"] * 3
        kinds = [e.kind for e in j.errors()]
        assert kinds.count("order_cancelled") == 3 and kinds.count("retries_exhausted") == 1
    eth_after, usdc_after = wallet(arb_devnet, user.address)
    totals = journal_totals(journal)
    assert totals["ETH"] == eth_after - eth_before
    assert usdc_after == usdc_before and totals.get("USDC", 0) == 0  # each cancel refunded the collateral


def test_validation_errors_send_nothing(arb_devnet: Devnet, svc: GmxService, tmp_path: Path) -> None:
    user = arb_devnet.accounts[6]
    trader = trader_for(arb_devnet, svc, tmp_path / "j.sqlite", user)
    nonce = arb_devnet.w3.eth.get_transaction_count(user.address)
    cases = [
        (OpenRequest("ETH", True, "USDC", Decimal(1000), Decimal(250)), "above ETH's maximum 200x"),
        (OpenRequest("DOGE", True, "USDC", Decimal(1000), Decimal(2)), "unknown GMX market 'DOGE'"),
        (OpenRequest("ETH", True, "USDC", Decimal("0.5"), Decimal(2)), "below GMX's minimum $1.00"),
        (OpenRequest("ETH", True, "USDC", Decimal(100), Decimal(2), Decimal(2900)), "must be above the mark"),
        (
            OpenRequest("ETH", True, "USDC", Decimal(100), Decimal(2), None, Decimal(3100)),
            "must be below the mark",
        ),
        (
            OpenRequest("ETH", False, "USDC", Decimal(100), Decimal(2), Decimal(3100)),
            "short: it must be below",
        ),
        (
            OpenRequest("ETH", False, "USDC", Decimal(100), Decimal(2), None, Decimal(2900)),
            "must be above the",
        ),
        (OpenRequest("ETH", True, "DAI", Decimal(100), Decimal(2)), "not collateral of ETH"),
    ]
    for req, message in cases:
        with pytest.raises(UserError, match=message.replace("$", r"\$").replace("(", r"\(")):
            trader.plan_open(req)
    assert arb_devnet.w3.eth.get_transaction_count(user.address) == nonce


def test_a_liquidation_of_our_position_is_journaled_as_a_loss(
    arb_devnet: Devnet, svc: GmxService, tmp_path: Path
) -> None:
    """The keeper liquidates, not us: sync() still finds it, marks the position liquidated with its
    PnL, records what (if anything) came back, and raises an alert."""
    journal = tmp_path / "j.sqlite"
    signer = arb_devnet.accounts[5]
    trader = trader_for(arb_devnet, svc, journal, signer)
    before = usdc_balance(arb_devnet, signer.address)
    done = trader.execute(trader.plan_open(OpenRequest("ETH", True, "USDC", Decimal(1000), Decimal(50))))
    assert done.status == "executed"
    svc.oracle.set_usd("WETH", Decimal(2_940))  # -2% at 50x: under the minimum collateral
    wait_until(lambda: svc.keeper.stats.liquidated == 1)
    assert trader.sync() >= 1
    with Journal(journal) as j:
        (position,) = j.positions(protocol="gmx_v2")
        history = j.position_history(position.id or 0)
        alerts = [e for e in j.errors() if e.kind == "liquidated"]
    assert position.status == "liquidated" and history[0].status == "liquidated"
    assert history[0].pnl is not None and history[0].pnl < 0
    assert len(alerts) == 1 and signer.address in (alerts[0].payload or "")
    assert journal_totals(journal)["USDC"] == usdc_balance(arb_devnet, signer.address) - before
