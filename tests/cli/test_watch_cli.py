"""`defibots watch arb` as a user runs it: bad input is one error line and a non-zero exit; a good run
with a local exchange journals AMM-CEX signals equal to what the strategy computes from the same book."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from defibots.cex.events import BookTop
from defibots.chain.addresses import TOKENS
from defibots.chain.pool_discovery import discover_pools
from defibots.chain.pool_loader import load_pools
from defibots.chain.rpc import JsonRpc
from defibots.devnet.exchange import ExchangeThread, LocalExchange, MarketSpec, admin_set_mid
from defibots.devnet.node import Devnet
from defibots.devnet.noise import ExchangeNoise
from defibots.errors import UserError
from defibots.execution.executor_client import ExecutorClient
from defibots.foundry.anvil import free_port
from defibots.jobs.arb_watch import CexWatch, cex_markets
from defibots.journal import Journal
from defibots.state.uniswap import pool_market
from defibots.strategies.cex_arb import CexArbParams, CexArbStrategy, CexSignal

CLI = [sys.executable, "-m", "defibots.cli.main"]
NO_CODE = "0x000000000000000000000000000000000000dEaD"


def run(tmp: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, DEFIBOTS_STATE_DIR=str(tmp / "state"), COLUMNS="200", **(env or {}))
    return subprocess.run(
        [*CLI, "watch", "arb", *args], capture_output=True, text=True, env=full_env, cwd=tmp, timeout=120
    )


def config(tmp: Path, text: str) -> str:
    path = tmp / "defibots.toml"
    path.write_text(text)
    return str(path)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def executor(devnet: Devnet) -> str:
    searcher = devnet.accounts[0]
    client, _ = ExecutorClient.deploy(devnet.w3, searcher, searcher.address)
    return client.address


def test_unknown_token_in_config(devnet: Devnet, tmp_path: Path) -> None:
    cfg = config(tmp_path, '[arb]\ntokens = ["WETH", "FOO"]\n')
    line = one_line_error(run(tmp_path, "--config", cfg, "--rpc", devnet.http_url, "--executor", NO_CODE))
    assert line == "error: unknown token 'FOO' (known: WETH, USDC, USDT, DAI, WBTC)"


def test_unknown_cex_asset_in_config(devnet: Devnet, tmp_path: Path, executor: str) -> None:
    cfg = config(tmp_path, '[cex]\nsymbols = ["DOGE/USDT"]\n')
    line = one_line_error(run(tmp_path, "--config", cfg, "--rpc", devnet.http_url, "--executor", executor))
    assert line.startswith("error: CEX asset DOGE has no on-chain token to compare with")


def test_rpc_of_another_chain(devnet: Devnet, tmp_path: Path) -> None:
    cfg = config(tmp_path, "chain_id = 1\n")
    line = one_line_error(run(tmp_path, "--config", cfg, "--rpc", devnet.http_url, "--executor", NO_CODE))
    assert line == f"error: RPC {devnet.http_url} serves chain 31337, but the config expects 1"


def test_refused_websocket(devnet: Devnet, tmp_path: Path, executor: str) -> None:
    ws = f"ws://127.0.0.1:{free_port()}"
    cfg = config(tmp_path, '[arb]\ntokens = ["WETH", "USDT"]\n')
    result = run(tmp_path, "--config", cfg, "--rpc", devnet.http_url, "--ws", ws, "--executor", executor)
    line = one_line_error(result)
    assert line.startswith(f"error: cannot connect to websocket {ws}: ")
    assert "watching" not in result.stdout  # failed before the live view


def test_missing_executor(devnet: Devnet, tmp_path: Path) -> None:
    # DEFIBOTS_ROOT points deployments/ at an empty directory: nothing was deployed there
    root = {"DEFIBOTS_ROOT": str(tmp_path)}
    line = one_line_error(run(tmp_path, "--rpc", devnet.http_url, env=root))
    deployments = tmp_path / "deployments" / "31337.json"
    assert (
        line == f"error: no executor recorded for chain 31337 in {deployments}; deploy one or pass --executor"
    )
    line = one_line_error(run(tmp_path, "--rpc", devnet.http_url, "--executor", NO_CODE))
    assert line == f"error: no executor contract at {NO_CODE} (run `defibots deploy executor`)"


def test_polling_run_with_a_local_exchange_journals_exact_signals(
    devnet: Devnet, tmp_path: Path, executor: str
) -> None:
    """No --ws and no devnet state: the listener polls. The exchange sits 100 USDT above the pools."""
    exchange = LocalExchange(None, [MarketSpec("ETH/USDT", D("3100"))], seed=5)
    cfg = config(tmp_path, '[arb]\ntokens = ["WETH", "USDT", "USDC"]\n')
    with ExchangeThread(exchange):
        result = run(
            tmp_path, "--config", cfg, "--rpc", devnet.http_url, "--executor", executor,
            "--cex-url", exchange.url, "--duration", "3",
        )  # fmt: skip
        book = exchange.depth("ETH/USDT", 20)
    assert result.returncode == 0, result.stderr
    assert "CEX ETH/USDT on binance" in result.stdout
    with Journal(tmp_path / "state" / "journal.sqlite") as journal:
        recorded = journal.cex_signals()
        assert journal.errors() == []
    assert recorded, result.stdout
    assert f"; {len(recorded)} CEX signals" in result.stdout
    # the same strategy, fed the exchange's book directly, decides the same first signal to the unit
    rpc = JsonRpc(devnet.http_url)
    refs = discover_pools(rpc, [TOKENS[s].address for s in ("WETH", "USDT", "USDC")])
    base_fee = int(
        rpc.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16
    )  # the watcher's too
    params = CexArbParams(markets=cex_markets(CexWatch()), base_fee=base_fee)
    strategy = CexArbStrategy(pool_market(load_pools(rpc, refs).values()), params)
    top = BookTop(
        venue="binance", symbol="ETH/USDT", bid=book.bids[0].price, bid_qty=book.bids[0].qty,
        ask=book.asks[0].price, ask_qty=book.asks[0].qty, timestamp_ms=1, depth=book,
    )  # fmt: skip
    strategy.books["ETH/USDT"] = top
    (expected,) = strategy.evaluate("ETH/USDT")
    assert isinstance(expected, CexSignal) and expected.direction == "buy_amm_sell_cex"
    first = recorded[-1]  # newest first
    assert (first.venue, first.symbol, first.bid, first.ask) == ("binance", "ETH/USDT", top.bid, top.ask)
    assert first.details["direction"] == "buy_amm_sell_cex"
    assert (first.details["pool"], int(first.details["size"])) == (expected.pool, expected.size)
    assert int(first.details["amm_quote"]) == expected.amm_quote
    assert int(first.details["cex_quote"]) == expected.cex_quote
    assert int(first.details["net_profit"]) == expected.net_profit > 0
    assert (first.edge_bps, first.dex_price) == (expected.edge_bps, expected.amm_price)


def test_noise_moves_a_local_exchange_after_the_pool(devnet: Devnet, tmp_path: Path) -> None:
    """`devnet noise --exchange-url`: the exchange's ETH/USDT mid leaves its start and follows the pool."""
    exchange = LocalExchange(None, [MarketSpec("ETH/USDT", D("2000"))], seed=1)
    with ExchangeThread(exchange):
        result = subprocess.run(
            [*CLI, "devnet", "noise", "--rpc", devnet.http_url, "--duration", "1.5", "--rate", "4",
             "--seed", "3", "--exchange-url", exchange.url],
            capture_output=True, text=True, cwd=tmp_path, timeout=120,
            env=dict(os.environ, DEFIBOTS_STATE_DIR=str(tmp_path), COLUMNS="200"),
        )  # fmt: skip
        market = exchange.market("ETH/USDT")
        mid, moves = market.mid, market.update_id
    assert result.returncode == 0, result.stderr
    sent = int(result.stdout.rsplit("sent ", 1)[1].split()[0])
    assert moves == 1 + 1 + sent  # built at start, the first move, then one move per swap
    amm = ExchangeNoise(lambda symbol, price: None).amm_mid(JsonRpc(devnet.http_url))
    assert abs(mid / amm - 1) < D("0.02")  # the offset is capped at 80 bps; the last swap may lag behind


async def test_the_admin_endpoint_moves_prices_and_refuses_bad_input() -> None:
    async with LocalExchange(None, [MarketSpec("ETH/USDT", D("3000"))]) as exchange:
        top = await asyncio.to_thread(admin_set_mid, exchange.url, "ETH/USDT", D("3123.456"))
        assert top == {
            "symbol": "ETH/USDT",
            "mid": "3123.46000000",
            "bid": "3123.45000000",
            "ask": "3123.47000000",
        }
        assert exchange.depth("ETH/USDT").bids[0].price == D("3123.45")
        with pytest.raises(UserError, match="refused the price move: Invalid symbol"):
            await asyncio.to_thread(admin_set_mid, exchange.url, "BTC/USDT", D("1"))
        with pytest.raises(UserError, match="refused the price move: Illegal characters"):
            await asyncio.to_thread(admin_set_mid, exchange.url, "ETH/USDT", D("-1"))
    with pytest.raises(UserError, match="cannot reach the local exchange"):
        admin_set_mid(exchange.url, "ETH/USDT", D("3000"))
