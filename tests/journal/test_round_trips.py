"""Round trips (both legs of a hedged AMM-CEX trade): recorded pending, settled by update, read back to the
unit past 64 bits, refused when inconsistent, totalled per strategy and quote token, and added to a journal
written by the schema-4 code (commit 979585e, see make_v4_fixture.py) by the migration."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from defibots.journal import (
    LATEST_VERSION,
    BaseResidual,
    Fill,
    Journal,
    OpportunityRecord,
    Order,
    Receipt,
    RoundTrip,
    Send,
)


def plain(value: Any) -> Any:
    """Same encoding as make_v4_fixture.py's, so old and new query results compare as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, D):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


FIXTURES = Path(__file__).parent / "fixtures"
DEVNET = 31337
E18, E6, GWEI = 10**18, 10**6, 10**9
USDT_PER_ETH = 3_000  # gas valuation used by these trips


def units(amount: str, decimals: int) -> int:
    """A decimal string as exact smallest units."""
    return int(D(amount).scaleb(decimals))


def trip(**fields: Any) -> RoundTrip:
    """A round trip whose derived fields (residual, net) follow from its legs, as the strategy computes."""
    base: dict[str, Any] = dict(
        chain_id=DEVNET, block_number=300, strategy="cex_amm_arb", venue="binance", symbol="ETH/USDT",
        direction="sell_amm_buy_cex", status="pending", base_token="WETH", base_decimals=18,
        quote_token="USDT", quote_decimals=6, chain_base=0, chain_quote=0, cex_base=0, cex_quote=0,
        cex_fee_quote=0, gas_cost_quote=0, builder_payment_quote=0, predicted_net=0,
    )  # fmt: skip
    base.update(fields)
    base.setdefault("residual_base", base["chain_base"] + base["cex_base"])
    base.setdefault(
        "net_pnl",
        base["chain_quote"] + base["cex_quote"] - base["gas_cost_quote"] - base["builder_payment_quote"],
    )
    return RoundTrip(**base)


def sell_amm_buy_cex(j: Journal, size: str = "20") -> tuple[int, RoundTrip]:
    """Sell `size` WETH into the pool, buy it back on Binance in two fills with the fee taken in ETH; the
    trip is recorded pending at the send and updated to closed once the receipt and fills are in."""
    amount = units(size, 18)
    opp = j.record_opportunity(
        OpportunityRecord(DEVNET, 299, "cex_amm_arb", "WETH>USDT v3-500:0x11b8", "USDT", 6, amount, 55 * E6)
    )
    send = j.record_send(Send(DEVNET, 300, "bundle", "0x" + "a1" * 32, opp, "local", ("0x" + "a1" * 32,)))
    pending = trip(
        chain_base=-amount, predicted_net=55 * E6, send_ids=(send,), opportunity_id=opp,
        details={"policy": "hedge_residual"},
    )  # fmt: skip
    rt_id = j.record_round_trip(pending)
    j.record_receipt(Receipt(DEVNET, 301, "0x" + "a1" * 32, 1, 140_000, 10 * GWEI, send))
    order = j.record_order(
        Order(
            "binance",
            "ETH/USDT",
            f"db-rt-{rt_id}",
            "buy",
            "limit",
            D(size),
            D("3001"),
            strategy="cex_amm_arb",
        )
    )
    first, second = D(size) * 3 / 4, D(size) / 4
    j.record_fill(Fill(order, D("3000.40"), first, first / 1000, "ETH", "t-1"))
    j.record_fill(Fill(order, D("3000.80"), second, second / 1000, "ETH", "t-2"))
    j.update_order(order, "filled", "991")
    paid = first * D("3000.40") + second * D("3000.80")
    fee_base = D(size) / 1000
    closed = replace(
        pending,
        status="closed",
        block_number=301,
        chain_quote=units(str(D(size) * D("3003.10")), 6),
        cex_base=units(str(D(size) - fee_base), 18),
        cex_quote=-units(str(paid), 6),
        cex_fee_quote=units(str(fee_base * D("3000.5")), 6),
        gas_cost_quote=140_000 * 10 * GWEI * USDT_PER_ETH // 10**12,
        order_ids=(order,),
    )
    closed = trip(**{f.name: getattr(closed, f.name) for f in dataclasses.fields(closed)
                     if f.name not in ("residual_base", "net_pnl")})  # fmt: skip
    j.update_round_trip(rt_id, closed)
    return rt_id, closed


def test_a_trip_is_recorded_pending_and_settled_by_update(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        rt_id, closed = sell_amm_buy_cex(j)
        created = j.round_trip(rt_id)
        assert created is not None and created.created_ms > 0 and created.updated_ms >= created.created_ms
    with Journal(path, create=False) as j:
        (got,) = j.round_trips()
        assert got == replace(closed, id=rt_id, created_ms=got.created_ms, updated_ms=got.updated_ms)
        # 20 WETH in wei is past 64 bits: stored as text, read back exact
        assert got.chain_base == -20 * E18 and -got.chain_base > 2**63
        assert got.cex_base == 20 * E18 - 2 * 10**16 and got.residual_base == -2 * 10**16
        assert got.chain_quote == 60_062_000_000  # 20 x 3003.10 USDT
        assert got.cex_quote == -60_010_000_000  # 15 x 3000.40 + 5 x 3000.80
        assert got.gas_cost_quote == 4_200_000  # 140k gas x 10 gwei at 3000 USDT/ETH
        assert got.net_pnl == 60_062_000_000 - 60_010_000_000 - 4_200_000 == 47_800_000
        assert (got.status, got.block_number, got.details) == ("closed", 301, {"policy": "hedge_residual"})

        legs = j.round_trip_legs(got)
        assert [s.id for s in legs.sends] == list(got.send_ids) and legs.sends[0].relay == "local"
        (order,) = legs.orders
        assert (order.status, order.venue_order_id) == ("filled", "991")
        assert [f.venue_trade_id for f in legs.fills[order.id or 0]] == ["t-1", "t-2"]
        assert sum(f.amount for f in legs.fills[order.id or 0]) == D(20)


def test_inconsistent_or_dangling_trips_are_refused(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        rt_id, closed = sell_amm_buy_cex(j)
        with pytest.raises(ValueError, match="round trip status"):
            j.record_round_trip(replace(closed, status="done"))
        with pytest.raises(ValueError, match="round trip direction"):
            j.record_round_trip(replace(closed, direction="sideways"))
        with pytest.raises(ValueError, match="residual_base"):
            j.record_round_trip(replace(closed, residual_base=0))
        with pytest.raises(ValueError, match="net_pnl"):
            j.update_round_trip(rt_id, replace(closed, net_pnl=closed.net_pnl + 1))
        with pytest.raises(ValueError, match="no send 99"):
            j.record_round_trip(replace(closed, send_ids=(99,)))
        with pytest.raises(ValueError, match="no order 42"):
            j.update_round_trip(rt_id, replace(closed, order_ids=(*closed.order_ids, 42)))
        with pytest.raises(ValueError, match="no round trip 7"):
            j.update_round_trip(7, closed)
        (unchanged,) = j.round_trips()
        assert replace(unchanged, id=None, created_ms=0, updated_ms=0) == closed  # the refusals wrote nothing


def test_round_trips_filter_newest_first_and_total_exactly(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        closed_id, closed = sell_amm_buy_cex(j)
        send = j.record_send(Send(DEVNET, 310, "bundle", "0xb2"))
        reverted_gas = 90_000 * 10 * GWEI * USDT_PER_ETH // 10**12
        failed = j.record_round_trip(
            trip(block_number=310, status="chain_failed", gas_cost_quote=reverted_gas, predicted_net=30 * E6,
                 send_ids=(send,))
        )  # fmt: skip
        unhedged = j.record_round_trip(  # the CEX leg filled half: 0.5 WETH short, left open
            trip(block_number=320, status="unhedged", direction="buy_amm_sell_cex", chain_base=E18,
                 chain_quote=-3_000 * E6, cex_base=-E18 // 2, cex_quote=1_501 * E6, cex_fee_quote=1_501_000,
                 predicted_net=2 * E6)
        )  # fmt: skip
        pending = j.record_round_trip(trip(block_number=330, chain_base=-5 * E18, predicted_net=9 * E6))
        other_strategy = j.record_round_trip(
            trip(chain_id=1, strategy="cex_amm_arb_btc", base_token="WBTC", base_decimals=8,
                 symbol="BTC/USDT", status="closed", chain_base=-10**8, chain_quote=60_100 * E6,
                 cex_base=10**8, cex_quote=-60_000 * E6, predicted_net=100 * E6)
        )  # fmt: skip
        bybit_usdc = j.record_round_trip(trip(venue="bybit", quote_token="USDC", status="reorged"))

        assert [t.id for t in j.round_trips()] == [
            bybit_usdc,
            other_strategy,
            pending,
            unhedged,
            failed,
            closed_id,
        ]
        assert [t.id for t in j.round_trips(limit=2, chain_id=DEVNET)] == [bybit_usdc, pending]
        assert [t.id for t in j.round_trips(strategy="cex_amm_arb_btc")] == [other_strategy]

        eth_usdc, eth, btc = j.round_trip_totals()  # sorted by (strategy, quote token)
        assert (btc.strategy, btc.quote_token, btc.trips, dict(btc.statuses)) == (
            "cex_amm_arb_btc", "USDT", 1, {"closed": 1}
        )  # fmt: skip
        assert (btc.net_pnl, btc.open_residual) == (100 * E6, ())
        assert (eth.strategy, eth.quote_token, eth.trips) == ("cex_amm_arb", "USDT", 4)
        assert list(eth.statuses.items()) == [
            ("pending", 1),
            ("closed", 1),
            ("chain_failed", 1),
            ("unhedged", 1),
        ]
        assert eth.net_pnl == closed.net_pnl - reverted_gas + (1_501 - 3_000) * E6
        assert eth.predicted_net == (55 + 30 + 2 + 9) * E6
        assert eth.cex_fee_quote == closed.cex_fee_quote + 1_501_000
        assert eth.gas_cost_quote == closed.gas_cost_quote + reverted_gas
        # settled exposure: the closed trip's ETH fee and the unhedged half; the pending -5 WETH is in flight
        assert eth.open_residual == (BaseResidual("WETH", 18, closed.residual_base + E18 // 2),)
        assert (eth_usdc.quote_token, dict(eth_usdc.statuses), eth_usdc.net_pnl) == (
            "USDC",
            {"reorged": 1},
            0,
        )

        (only_mainnet,) = j.round_trip_totals(chain_id=1)
        assert only_mainnet == btc
        assert j.round_trip_totals(chain_id=10) == [] and j.round_trips(chain_id=10) == []


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def test_a_v4_journal_migrates_and_gains_round_trips(tmp_path: Path) -> None:
    expected = json.loads((FIXTURES / "journal_v4.expected.json").read_text())
    path = tmp_path / "journal.sqlite"
    shutil.copyfile(FIXTURES / "journal_v4.sqlite", path)
    assert expected["user_version"] == 4 and LATEST_VERSION == 5
    assert "round_trips" not in tables(path) and "strategy_pnl" in tables(path)

    with Journal(path) as j:
        assert j.conn.execute("PRAGMA user_version").fetchone()[0] == 5
        assert j.round_trips() == [] and j.round_trip_totals() == []
        for report in ("sends", "orders", "fills", "positions", "trades", "totals", "strategy_totals"):
            assert plain(getattr(j, report)()) == expected[report], report
        # the old hedge's send and order become the legs of a round trip in the upgraded file
        (order,) = j.orders()
        old_send = next(s for s in j.sends() if s.ident == "0xa1")
        rt_id = j.record_round_trip(
            trip(block_number=201, status="closed", chain_base=-2 * E18, chain_quote=6_010_500_000,
                 cex_base=2 * E18 - 2 * 10**15, cex_quote=-6_000_850_000, cex_fee_quote=6_000_900,
                 gas_cost_quote=4_680_000, predicted_net=5_500_000, send_ids=(old_send.id or 0,),
                 order_ids=(order.id or 0,))
        )  # fmt: skip
    with Journal(path, create=False) as j, Journal(tmp_path / "fresh.sqlite") as fresh:
        (rt,) = j.round_trips()
        assert (rt.id, rt.net_pnl, rt.residual_base) == (rt_id, 4_970_000, -2 * 10**15)
        legs = j.round_trip_legs(rt)
        assert [f.venue_trade_id for f in legs.fills[order.id or 0]] == ["t-1", "t-2"]
        assert legs.sends[0].tx_hashes == ("0xa1",)
        schema = "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"
        assert set(j.conn.execute(schema)) == set(fresh.conn.execute(schema))
