"""`defibots cex balances | orders | book` through typer's CliRunner against local binance and bybit venues
served from their own threads: the numbers are the venues' own, and bad input is one `error:` line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal as D

import ccxt
import pytest
from typer.testing import CliRunner, Result

from defibots.cli.main import app
from defibots.devnet.exchange import ExchangeThread, LocalExchange, MarketSpec, ccxt_config
from defibots.foundry.anvil import free_port

ETH = MarketSpec("ETH/USDT", D("3000"))
KEY, SECRET = "k" * 64, "s" * 64
ENV = {"T_CEX_KEY": KEY, "T_CEX_SECRET": SECRET, "COLUMNS": "200"}
KEYS = ["--key-env", "T_CEX_KEY", "--secret-env", "T_CEX_SECRET"]


@pytest.fixture(scope="module")
def venues() -> Iterator[tuple[ExchangeThread, ExchangeThread]]:
    balances = {"USDT": D("12345.5"), "ETH": D("3")}
    binance = LocalExchange(None, [ETH], api_key=KEY, api_secret=SECRET, balances=balances, seed=1)
    bybit = LocalExchange(
        None, [ETH], venue="bybit", api_key=KEY, api_secret=SECRET, balances=balances, seed=2
    )
    with ExchangeThread(binance) as b, ExchangeThread(bybit) as y:
        yield b, y


def cli(*args: str) -> Result:
    return CliRunner(env=ENV).invoke(app, ["cex", *args])


def one_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def top(ex: LocalExchange) -> dict[str, str]:
    depth = ex.depth("ETH/USDT")
    assert depth.best_bid is not None and depth.best_ask is not None
    return {
        "symbol": "ETH/USDT",
        "bid": str(depth.best_bid.price),
        "bid_qty": str(depth.best_bid.qty),
        "ask": str(depth.best_ask.price),
        "ask_qty": str(depth.best_ask.qty),
    }


def test_book_is_the_normalized_view_across_both_venues(
    venues: tuple[ExchangeThread, ExchangeThread],
) -> None:
    b, y = venues
    result = cli("book", "ETH/USDT", "--venue", f"binance={b.url}", "--venue", f"bybit={y.url}", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert list(record) == ["event_time", "binance", "bybit"]
    assert {k: D(v) if k != "symbol" else v for k, v in record["binance"].items()} == {
        k: D(v) if k != "symbol" else v for k, v in top(b.exchange).items()
    }
    assert {k: D(v) if k != "symbol" else v for k, v in record["bybit"].items()} == {
        k: D(v) if k != "symbol" else v for k, v in top(y.exchange).items()
    }

    table = cli("book", "ETH/USDT", "--venue", f"binance={b.url}", "--venue", f"bybit={y.url}")
    assert table.exit_code == 0, table.output
    assert "binance" in table.stdout and "bybit" in table.stdout and "event_time" in table.stdout


def test_balances_and_open_orders(venues: tuple[ExchangeThread, ExchangeThread]) -> None:
    b, y = venues
    result = cli("balances", "--venue", f"binance={b.url}", "--venue", f"bybit={y.url}", *KEYS)
    assert result.exit_code == 0, result.output
    rows = [line.replace("│", " ").split() for line in result.stdout.splitlines()]
    assert sorted(tuple(r) for r in rows if len(r) == 5 and r[0] in ("binance", "bybit")) == [
        ("binance", "ETH", "3", "0", "3"),
        ("binance", "USDT", "12345.5", "0", "12345.5"),
        ("bybit", "ETH", "3", "0", "3"),
        ("bybit", "USDT", "12345.5", "0", "12345.5"),
    ]

    client = ccxt.binance(ccxt_config(b.url, "binance", KEY, SECRET))
    client.create_order("ETH/USDT", "limit", "buy", 0.25, 2500, {"clientOrderId": "cli-test-order-1"})
    listing = cli("orders", "--venue", b.url, "--symbol", "ETH/USDT", *KEYS)
    assert listing.exit_code == 0, listing.output
    line = next(line for line in listing.stdout.splitlines() if "cli-test-order-1" in line)
    assert "buy" in line and "2500" in line and "0.25" in line and "open" in line


def test_bad_input_is_one_error_line(venues: tuple[ExchangeThread, ExchangeThread]) -> None:
    b, _ = venues
    assert "unknown venue 'kraken'" in one_error(cli("book", "ETH/USDT", "--venue", "kraken=http://x"))
    assert "must start with http" in one_error(cli("book", "ETH/USDT", "--venue", "binance=ftp://x"))
    assert "BASE/QUOTE" in one_error(cli("book", "ETHUSDT", "--venue", b.url))
    assert "binance has no market DOGE/USDT" in one_error(cli("book", "DOGE/USDT", "--venue", b.url))
    assert "needs API credentials" in one_error(cli("balances", "--venue", b.url))
    assert "T_NOPE is not set" in one_error(
        cli("balances", "--venue", b.url, "--key-env", "T_NOPE", "--secret-env", "T_CEX_SECRET")
    )
    dead = f"http://127.0.0.1:{free_port('127.0.0.1')}"
    assert "venue unreachable" in one_error(cli("balances", "--venue", dead, *KEYS))
    wrong = CliRunner(env=ENV | {"T_CEX_SECRET": "x" * 64}).invoke(
        app, ["cex", "balances", "--venue", b.url, *KEYS]
    )
    line = one_error(wrong)
    assert "credentials rejected" in line and "x" * 64 not in line and KEY not in line
