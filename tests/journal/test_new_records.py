"""Positions with per-block history, venue orders and fills, and per-strategy P&L: round trips with amounts
past 64 bits, the reorg and status rules, and the same records written into an upgraded v1 journal."""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal as D
from pathlib import Path

import pytest
from typer.testing import CliRunner

from defibots.cli.main import app
from defibots.journal import (
    Fill,
    Journal,
    OpportunityRecord,
    Order,
    Position,
    PositionSnapshot,
    Send,
    StrategyPnl,
    StrategyTokenTotal,
)

ARB = 412346  # the Arbitrum replica's chain id in these tests; any non-production id would do
USD30 = 10**30  # GMX's USD unit


def gmx_long(block: int = 1_000) -> Position:
    return Position(
        chain_id=ARB,
        block_number=block,
        protocol="gmx_v2",
        market="0x70d95587d40A2caf56bd97485aB3Eec10Bee6336",
        side="long",
        key="0x" + "ab" * 32,
        size=50_000 * USD30,  # far past 64 bits
        collateral_token="USDC",
        collateral=10_000 * 10**6,
        entry_price=3_000 * 10**12 * USD30 // 10**18,  # GMX price per wei of ETH, 1e30-scaled
        strategy="gmx_perp",
        details={"leverage": "5x"},
    )


def test_positions_and_their_per_block_history(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        pid = j.record_position(gmx_long())
        aave = j.record_position(
            Position(1, 19_000_000, "aave_v3", "WETH", "loop", "0xacc0", 30 * 10**18, "WETH", 30 * 10**18,
                     3_000 * 10**8, debt_token="WETH", debt=20 * 10**18, strategy="aave_loop")
        )  # fmt: skip
        j.record_position_snapshot(
            PositionSnapshot(pid, ARB, 1_001, 50_000 * USD30, 10**10, 0, 3_010 * USD30)
        )
        j.record_position_snapshot(
            PositionSnapshot(pid, ARB, 1_002, 50_000 * USD30, 10**10, 0, 2_990 * USD30, pnl=-(10**32))
        )
        # a reorg re-records block 1002: the newer snapshot replaces the old one, nothing is duplicated
        liquidated = PositionSnapshot(
            pid, ARB, 1_002, 50_000 * USD30, 10**10, 0, 2_400 * USD30, "liquidated", pnl=-(10**34)
        )
        j.record_position_snapshot(liquidated)
        # a late snapshot of an older block is history, it does not bring the position back to open
        j.record_position_snapshot(
            PositionSnapshot(pid, ARB, 1_000, 50_000 * USD30, 10**10, 0, 3_000 * USD30)
        )
        j.record_position_snapshot(
            PositionSnapshot(aave, 1, 19_000_005, 30 * 10**18, 30 * 10**18, 20 * 10**18 + 7, 2_900 * 10**8,
                             health_factor=1_087_000_000_000_000_000)
        )  # fmt: skip

    with Journal(tmp_path / "j.sqlite", create=False) as j:
        (p,) = j.positions(chain_id=ARB)
        assert (p.id, p.size, p.entry_price, p.status, p.details) == (
            pid, 50_000 * USD30, 3_000 * USD30 // 10**6, "liquidated", {"leverage": "5x"}
        )  # fmt: skip
        assert [h.block_number for h in j.position_history(pid)] == [1_002, 1_001, 1_000]
        newest = j.position_history(pid)[0]
        assert (newest.mark_price, newest.status, newest.pnl) == (2_400 * USD30, "liquidated", -(10**34))
        assert j.positions(status="open") == [j.positions(protocol="aave_v3")[0]]
        (snap,) = j.position_history(aave)
        assert (snap.debt, snap.health_factor, snap.pnl) == (20 * 10**18 + 7, 1_087 * 10**15, None)
        with pytest.raises(ValueError, match="position status"):
            j.record_position(dataclass_replace_status(gmx_long(), "gone"))
        with pytest.raises(sqlite3.IntegrityError):  # a snapshot of a position that was never recorded
            j.record_position_snapshot(PositionSnapshot(999, ARB, 1, 0, 0, 0, 0))
        assert j.position_history(999) == []


def dataclass_replace_status(p: Position, status: str) -> Position:
    from dataclasses import replace

    return replace(p, status=status)


def test_orders_and_fills_on_other_venues(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        oid = j.record_order(
            Order("binance", "ETH/USDT", "db-1-0001", "sell", "limit", D("1.2345"), D("3001.07"),
                  strategy="cex_amm_arb")
        )  # fmt: skip
        j.update_order(oid, "partially_filled", venue_order_id="8389765512")
        j.record_fill(Fill(oid, D("3001.07"), D("1"), D("3.00107"), "USDT", "t-1"))
        j.record_fill(Fill(oid, D("3001.10"), D("0.2345"), D("0.0000351"), "BNB", "t-2"))
        j.update_order(oid, "filled")
        gmx = j.record_order(Order("gmx_v2", "ETH/USD", "db-2-0001", "buy", "market", D("0.5"), chain_id=ARB))
        with pytest.raises(sqlite3.IntegrityError):  # a retried send cannot double the order
            j.record_order(Order("binance", "ETH/USDT", "db-1-0001", "sell", "limit", D("1"), D("1")))
        with pytest.raises(ValueError, match="order side"):
            j.record_order(Order("binance", "ETH/USDT", "db-1-0002", "short", "limit", D("1"), D("1")))
        with pytest.raises(ValueError, match="no order 77"):
            j.update_order(77, "canceled")

    with Journal(tmp_path / "j.sqlite", create=False) as j:
        order = j.order_by_client_id("binance", "db-1-0001")
        assert order is not None
        assert (order.id, order.status, order.venue_order_id, order.chain_id) == (
            oid,
            "filled",
            "8389765512",
            None,
        )
        assert (order.price, order.amount) == (D("3001.07"), D("1.2345"))
        fills = j.fills(order_id=oid)
        assert sum(f.amount for f in fills) == order.amount
        assert {(f.fee, f.fee_currency) for f in fills} == {(D("3.00107"), "USDT"), (D("0.0000351"), "BNB")}
        assert [o.id for o in j.orders(chain_id=ARB)] == [gmx]
        assert j.orders(venue="gmx_v2")[0].price is None
        assert [o.client_order_id for o in j.orders(status="filled")] == ["db-1-0001"]
        assert j.order_by_client_id("bybit", "db-1-0001") is None


def test_strategy_pnl_in_any_token_sums_exactly(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.record_strategy_pnl(StrategyPnl(ARB, "gmx_perp", "USDC", 6, -1_500_000, "funding", 1_001))
        j.record_strategy_pnl(
            StrategyPnl(ARB, "gmx_perp", "USDC", 6, 12_345_678, "realized", 1_002, "order:2")
        )
        j.record_strategy_pnl(StrategyPnl(1, "aave_loop", "WETH", 18, 2**70, "interest"))
        j.record_strategy_pnl(StrategyPnl(1, "aave_loop", "WETH", 18, 2**70 + 1, "interest"))
        assert j.strategy_totals() == [
            StrategyTokenTotal("aave_loop", "WETH", 18, 2, 2**71 + 1),  # past 64 bits, not a float
            StrategyTokenTotal("gmx_perp", "USDC", 6, 2, 10_845_678),
        ]
        assert j.strategy_totals(chain_id=ARB) == [StrategyTokenTotal("gmx_perp", "USDC", 6, 2, 10_845_678)]
        (latest, _) = j.strategy_pnl(strategy="gmx_perp")
        assert (latest.amount, latest.kind, latest.ref, latest.block_number) == (
            12_345_678,
            "realized",
            "order:2",
            1_002,
        )

        o = j.record_opportunity(OpportunityRecord(ARB, 5, "gmx_perp", "ETH/USD", "USDC", 6, 10**6, 1))
        j.record_send(Send(ARB, 6, "public_tx", "0x1", o))
    result = CliRunner().invoke(app, ["history", "--journal", str(path), "--chain-id", str(ARB)])
    assert result.exit_code == 0, result.output
    assert "strategy gmx_perp: 2 P&L entries, 10.845678 USDC" in result.output
    assert "aave_loop" not in result.output
    assert "│ chain" not in result.output and "chain ┃" not in result.output  # one chain: no chain column


def test_new_records_go_into_an_upgraded_v1_journal(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    shutil.copyfile(Path(__file__).parent / "fixtures" / "journal_v1.sqlite", path)
    with Journal(path) as j:
        pid = j.record_position(gmx_long())
        j.record_position_snapshot(PositionSnapshot(pid, ARB, 1_001, 1, 2, 3, 4))
        oid = j.record_order(Order("bybit", "BTC/USDT", "db-9", "buy", "limit", D("0.01"), D("60000.5")))
        j.record_fill(Fill(oid, D("60000.5"), D("0.01"), D("0.6"), "USDT"))
        j.record_strategy_pnl(StrategyPnl(ARB, "gmx_perp", "USDC", 6, 5))
        assert len(j.sends()) == 5  # the old rows are still there next to the new kinds
    with Journal(path, create=False) as j:
        assert [p.id for p in j.positions()] == [pid]
        assert j.fills(oid)[0].fee == D("0.6")
        assert j.strategy_totals()[0].amount == 5
