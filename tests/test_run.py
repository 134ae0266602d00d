"""`defibots run NAME` as a user runs it against the replica: the strategy's config section, a standing
imbalance or arbitrage acted on at the first block in shadow mode, and bad input as one error line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from defibots.chain.addresses import TOKENS, UNISWAP_V2_ROUTER02
from defibots.chain.calldata import calldata
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise
from defibots.execution.executor_client import ExecutorClient
from defibots.journal import Journal

CLI = [sys.executable, "-m", "defibots.cli.main"]
V2_WETH_USDC = "0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc"
NO_CODE = "0x000000000000000000000000000000000000dEaD"
WETH, USDC = TOKENS["WETH"].address, TOKENS["USDC"].address


def swap_weth_into_v2(devnet: Devnet, weth: int) -> int:
    """`weth` WETH into the V2 WETH/USDC pair through the router, mined; its block."""
    trader = devnet.accounts[2]
    noise = MarketNoise(devnet.http_url, [trader], seed=1)
    noise.approve_routers()
    data = calldata("swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
                    weth, 0, [WETH, USDC], trader.address, 2**40)  # fmt: skip
    (receipt,) = noise.wait_mined([noise.send(trader, UNISWAP_V2_ROUTER02, data)])
    assert receipt["status"] == "0x1"
    return int(receipt["blockNumber"], 16)


def run(tmp: Path, *args: str, config: str = "") -> subprocess.CompletedProcess[str]:
    (tmp / "defibots.toml").write_text(config)
    env = dict(os.environ, DEFIBOTS_STATE_DIR=str(tmp / "state"), COLUMNS="200")
    return subprocess.run(
        [*CLI, "run", *args, "--config", str(tmp / "defibots.toml")],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=120,
    )  # fmt: skip


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_standing_imbalance_is_journaled_in_shadow(devnet: Devnet, tmp_path: Path) -> None:
    block = swap_weth_into_v2(devnet, 300 * 10**18)
    cfg = '[strategies.pool_imbalance]\ntokens = ["WETH", "USDC"]\nmin_gap_bps = 30\n'
    result = run(
        tmp_path, "pool_imbalance", "--shadow", "--duration", "3", "--rpc", devnet.http_url, config=cfg
    )
    assert result.returncode == 0, result.stderr
    with Journal(tmp_path / "state" / "journal.sqlite") as journal:
        alerts = [e for e in journal.errors() if e.source == "strategy:pool_imbalance"]
    assert alerts and all(a.block_number == block for a in alerts)
    assert all(V2_WETH_USDC in json.loads(a.payload or "{}").values() for a in alerts)
    assert f"alerts journaled {len(alerts)}" in result.stdout
    assert "running pool_imbalance on chain 31337" in result.stdout


def test_amm_arb_runs_registered_in_shadow(devnet: Devnet, tmp_path: Path) -> None:
    searcher = devnet.accounts[0]
    client, _ = ExecutorClient.deploy(devnet.w3, searcher, searcher.address)
    block = swap_weth_into_v2(devnet, 300 * 10**18)
    cfg = '[strategies.amm_arb]\ntokens = ["WETH", "USDC", "USDT"]\nmax_hops = 2\n'
    result = run(
        tmp_path, "amm_arb", "--shadow", "--duration", "3", "--rpc", devnet.http_url,
        "--executor", client.address, config=cfg,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with Journal(tmp_path / "state" / "journal.sqlite") as journal:
        (sim,) = journal.simulations()
        (opp,) = journal.opportunities()
        assert journal.sends() == []  # shadow: simulated, never sent
    assert sim.success and sim.block_number == opp.block_number == block
    assert sim.profit == int(opp.details["gross_profit"]) > 0
    assert "simulated 1, sent 0" in result.stdout


def test_cex_amm_arb_trades_both_legs_under_run(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run cex_amm_arb --execute` with keys from env vars: the venue's price 1.5% under the pools makes
    round trips (swap on chain, IOC on the local Binance), journaled with both legs."""
    from decimal import Decimal

    from defibots.devnet.exchange import ExchangeThread, LocalExchange, MarketSpec, admin_set_mid
    from defibots.devnet.price_driver import pool_price, weth_stable_pools
    from defibots.devnet.replica import calldata as token_call

    searcher = devnet.accounts[0]
    client, _ = ExecutorClient.deploy(devnet.w3, searcher, searcher.address)
    wrap = (token_call("deposit()"), 30 * 10**18)
    give = (token_call("transfer(address,uint256)", client.address, 30 * 10**18), 0)
    for data, value in (wrap, give):
        devnet.w3.eth.send_transaction({"from": searcher.address, "to": WETH, "data": data, "value": value})
    noise = MarketNoise(devnet.http_url, [devnet.accounts[2]], seed=1)
    mid = pool_price(noise, next(p for p in weth_stable_pools() if p.protocol == "v3"))
    start = {"USDT": Decimal(1_000_000), "ETH": Decimal(100)}
    venue = LocalExchange(
        None, [MarketSpec("ETH/USDT", Decimal(3000))], balances=start, taker_fee_bps=10, seed=2
    )
    with ExchangeThread(venue) as thread:
        admin_set_mid(thread.url, "ETH/USDT", (mid * Decimal("0.985")).quantize(Decimal("0.01")))
        monkeypatch.setenv("T_CEX_KEY", venue.api_key)
        monkeypatch.setenv("T_CEX_SECRET", venue.api_secret)
        cfg = (
            f'[strategies.cex_amm_arb]\nurl = "{thread.url}"\nsizes = ["1"]\n'
            'api_key_env = "T_CEX_KEY"\napi_secret_env = "T_CEX_SECRET"\n'
            "[strategies.cex_amm_arb.policy]\nconfirmations = 0\n"
        )
        result = run(
            tmp_path, "cex_amm_arb", "--execute", "--duration", "6", "--rpc", devnet.http_url,
            "--executor", client.address, config=cfg,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with Journal(tmp_path / "state" / "journal.sqlite") as journal:
        trips = journal.round_trips()
        fills = journal.fills()
    assert trips and all(t.status == "closed" for t in trips), [t.details for t in trips]
    assert fills and all(t.net_pnl > 0 and t.chain_quote > 0 for t in trips)
    assert "round trips: closed" in result.stdout
    assert venue.api_secret not in result.stdout + result.stderr


def test_bad_input_is_one_error_line(devnet: Devnet, tmp_path: Path) -> None:
    registered = "aave_loop, amm_arb, cex_amm_arb, gmx_perp, pool_imbalance"
    assert error_line(run(tmp_path, "nope")) == f"error: unknown strategy 'nope' (registered: {registered})"
    bad_key = "[strategies.pool_imbalance]\nmin_gap = 3\n"
    assert error_line(run(tmp_path, "pool_imbalance", "--rpc", devnet.http_url, config=bad_key)) == (
        "error: unknown key strategies.pool_imbalance.min_gap (known: tokens, min_gap_bps)"
    )
    other_chain = "chain_id = 1\n"
    assert error_line(run(tmp_path, "pool_imbalance", "--rpc", devnet.http_url, config=other_chain)) == (
        f"error: RPC {devnet.http_url} serves chain 31337, but the config expects 1"
    )
    line = error_line(run(tmp_path, "amm_arb", "--rpc", devnet.http_url, "--executor", NO_CODE))
    assert line == f"error: no executor contract at {NO_CODE} (run `defibots deploy executor`)"
    assert error_line(run(tmp_path, "pool_imbalance", "--execute", "--shadow")) == (
        "error: --execute and --shadow exclude each other"
    )
