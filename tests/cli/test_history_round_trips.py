"""`defibots history` on a journal holding hedged AMM-CEX round trips, written through the real Journal:
one row per trip with both legs in token units, the journal ids behind them, predicted against realized
net, the per-strategy totals, and the `--chain-id` filter."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
from typer.testing import CliRunner

from defibots.cli.main import app
from defibots.journal import Fill, Journal, Order, Receipt, RoundTrip, Send

DEVNET = 31337
E18, E6, GWEI = 10**18, 10**6, 10**9
TX = "0x" + "c4" * 32


def eth_trip(**fields: object) -> RoundTrip:
    values: dict[str, object] = dict(
        chain_id=DEVNET, block_number=0, strategy="cex_amm_arb", venue="binance", symbol="ETH/USDT",
        direction="sell_amm_buy_cex", status="pending", base_token="WETH", base_decimals=18,
        quote_token="USDT", quote_decimals=6, chain_base=0, chain_quote=0, cex_base=0, cex_quote=0,
        cex_fee_quote=0, gas_cost_quote=0, builder_payment_quote=0, residual_base=0, predicted_net=0,
        net_pnl=0,
    )  # fmt: skip
    values.update(fields)
    return RoundTrip(**values)  # type: ignore[arg-type]


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """Two ETH trips on the devnet (one closed with both legs filled, one that reverted on chain) and a
    BTC trip on mainnet left unhedged with half its CEX order filled."""
    path = tmp_path / "journal.sqlite"
    with Journal(path) as j:
        # closed: sell 2 WETH on chain for 6010.5 USDT, buy 2 ETH on Binance (fee 0.002 ETH, in base)
        send = j.record_send(Send(DEVNET, 500, "public_tx", TX, tx_hashes=(TX,)))
        rt = j.record_round_trip(eth_trip(block_number=500, chain_base=-2 * E18, residual_base=-2 * E18,
                                          predicted_net=5_500_000, send_ids=(send,)))  # fmt: skip
        j.record_receipt(Receipt(DEVNET, 501, TX, 1, 130_000, 12 * GWEI, send))
        order = j.record_order(Order("binance", "ETH/USDT", "rt-1", "buy", "limit", D(2), D("3001")))
        j.record_fill(Fill(order, D("3000.4"), D("1.5"), D("0.0015"), "ETH", "t-1"))
        j.record_fill(Fill(order, D("3000.5"), D("0.5"), D("0.0005"), "ETH", "t-2"))
        j.update_order(order, "filled")
        j.update_round_trip(
            rt,
            eth_trip(block_number=501, status="closed", chain_base=-2 * E18, chain_quote=6_010_500_000,
                     cex_base=2 * E18 - 2 * 10**15, cex_quote=-6_000_850_000, cex_fee_quote=6_000_900,
                     gas_cost_quote=4_680_000, residual_base=-2 * 10**15, predicted_net=5_500_000,
                     net_pnl=4_970_000, send_ids=(send,), order_ids=(order,)),
        )  # fmt: skip
        # chain_failed: the swap reverted, no CEX order was placed, its gas is the loss
        failed = j.record_send(Send(DEVNET, 510, "bundle", "0xbundle5", relay="local"))
        j.record_round_trip(
            eth_trip(block_number=511, status="chain_failed", gas_cost_quote=2_100_000,
                     net_pnl=-2_100_000, predicted_net=3_000_000, send_ids=(failed,))
        )  # fmt: skip
        # unhedged on mainnet: bought 0.1 WBTC on chain, the IOC sell filled 0.05 and the rest stayed open
        btc_send = j.record_send(Send(1, 19_000_100, "bundle", "0xbtc1", relay="flashbots"))
        btc_order = j.record_order(Order("bybit", "BTC/USDT", "rt-3", "sell", "limit", D("0.1"), D("60000")))
        j.record_fill(Fill(btc_order, D("60010"), D("0.05"), D("3.0005"), "USDT", "b-1"))
        j.update_order(btc_order, "expired")
        j.record_round_trip(
            eth_trip(chain_id=1, block_number=19_000_100, status="unhedged", venue="bybit", symbol="BTC/USDT",
                     direction="buy_amm_sell_cex", base_token="WBTC", base_decimals=8,
                     chain_base=10_000_000, chain_quote=-6_000_000_000, cex_base=-5_000_000,
                     cex_quote=3_000_500_000 - 3_000_500, cex_fee_quote=3_000_500, gas_cost_quote=9_000_000,
                     builder_payment_quote=1_000_000, residual_base=5_000_000, predicted_net=12_000_000,
                     net_pnl=3_000_500_000 - 3_000_500 - 6_000_000_000 - 10_000_000,
                     send_ids=(btc_send,), order_ids=(btc_order,))
        )  # fmt: skip
    return path


def row(output: str, *needles: str) -> str:
    (line,) = [ln for ln in output.splitlines() if all(n in ln for n in needles)]
    return line


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("│ ").split("│")]


def test_history_shows_each_round_trip_with_both_legs_and_the_totals(journal: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "320"})  # wide enough that rich keeps each trip on one line
    result = runner.invoke(app, ["history", "--journal", str(journal)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Last 3 round trips (both legs; P&L in the quote token)" in out

    closed = row(out, "closed", "cex_amm_arb binance ETH/USDT")
    assert cells(closed)[:5] == [str(DEVNET), "1", "501", "cex_amm_arb binance ETH/USDT", "sell AMM, buy CEX"]
    assert f"-2 WETH +6010.5 USDT (send 1 {TX[:10]}…)" in closed
    assert "+1.998 WETH -6000.85 USDT (order 1 buy 2 ETH @ 3000.425)" in closed
    assert "CEX 6.0009 gas 4.68 builder 0 USDT" in closed
    assert cells(closed)[-4:] == ["5.5 USDT", "4.97 USDT", "-0.002 WETH", "closed"]

    failed = row(out, "chain_failed", "0xbundle5")
    assert "0 WETH 0 USDT (send 2 0xbundle5)" in failed and "(no order)" in failed
    assert cells(failed)[-4:] == ["3 USDT", "-2.1 USDT", "0 WETH", "chain_failed"]

    btc = row(out, "unhedged", "bybit BTC/USDT")
    assert "buy AMM, sell CEX" in btc and "+0.1 WBTC -6000 USDT (send 3 0xbtc1)" in btc
    assert "-0.05 WBTC +2997.4995 USDT (order 2 sell 0.05 BTC @ 60010)" in btc
    assert cells(btc)[-5:] == [
        "CEX 3.0005 gas 9 builder 1 USDT",
        "12 USDT",
        "-3012.5005 USDT",
        "0.05 WBTC",
        "unhedged",
    ]

    assert (
        "round trips cex_amm_arb (USDT): 3 (closed 1, chain_failed 1, unhedged 1)"
        " | net -3009.6305 USDT (predicted 20.5) | CEX fees 9.0014 USDT | gas 15.78 USDT | builder 1 USDT"
        " | open residual 0.05 WBTC, -0.002 WETH"
    ) in out
    # the trips' sends are shown and summed with their trips, not again as P&L-less trades
    assert "no trades in" in out and "Last 3 trades in" not in out


def test_history_round_trips_respect_the_chain_filter(journal: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "320"})
    result = runner.invoke(app, ["history", "--journal", str(journal), "--chain-id", str(DEVNET)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Last 2 round trips on chain {DEVNET}" in out
    assert "WBTC" not in out and "bybit" not in out
    assert cells(row(out, "closed", "ETH/USDT"))[:2] == ["1", "501"]  # one chain: no chain column
    assert (
        "round trips cex_amm_arb (USDT): 2 (closed 1, chain_failed 1) | net 2.87 USDT (predicted 8.5)"
        " | CEX fees 6.0009 USDT | gas 6.78 USDT | builder 0 USDT | open residual -0.002 WETH"
    ) in out

    result = runner.invoke(app, ["history", "--journal", str(journal), "--chain-id", "1", "--limit", "1"])
    assert result.exit_code == 0, result.output
    assert "Last 1 round trips on chain 1" in result.output and "unhedged" in result.output
    assert "round trips cex_amm_arb (USDT): 1 (unhedged 1)" in result.output
    assert "ETH/USDT" not in result.output


def test_history_without_round_trips_prints_no_round_trip_section(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal(path) as j:
        j.record_send(Send(DEVNET, 5, "public_tx", "0x1"))
    result = CliRunner().invoke(app, ["history", "--journal", str(path)])
    assert result.exit_code == 0, result.output
    assert "round trips" not in result.output
