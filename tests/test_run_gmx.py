"""`defibots run gmx_perp` on the Arbitrum replica, as a user runs it: candles from the local exchange
through ccxt, the GMX order through the keeper, the collateral held to the portfolio cap, and shadow
mode sending nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from defibots.chain.calldata import calldata
from defibots.chain.gmx.reader import GmxReader
from defibots.devnet import gmx_standin as g
from defibots.devnet.exchange import ExchangeThread, LocalExchange, MarketSpec
from defibots.devnet.gmx_service import GmxService, GmxServiceConfig, gmx_service
from defibots.devnet.node import Devnet
from defibots.foundry.accounts import dev_account
from defibots.journal import Journal

pytestmark = pytest.mark.devnet

CLI = [sys.executable, "-m", "defibots.cli.main"]
USD = 10**30


@pytest.fixture
def world(arb_devnet: Devnet) -> Iterator[tuple[Devnet, str, GmxService]]:
    venue = LocalExchange(
        None, [MarketSpec("ETH/USDT", Decimal(3000)), MarketSpec("BTC/USDT", Decimal(60000))]
    )
    with ExchangeThread(venue) as ex:
        venue.load_history("ETH/USDT", [Decimal(3000)] * 30, 1000)
        config = GmxServiceConfig(arb_devnet.http_url, exchange_url=ex.url, poll_seconds=0.2)
        with gmx_service(config) as svc:
            yield arb_devnet, ex.url, svc


def balance(devnet: Devnet, token: str, account: str) -> int:
    raw = devnet.w3.eth.call({"to": token, "data": calldata("balanceOf(address)", account)})  # type: ignore[typeddict-item]
    return int.from_bytes(raw, "big")


def run_gmx_perp(tmp: Path, devnet: Devnet, exchange: str, oracle: str, *flags: str, **cfg: str) -> str:
    settings = {"signal": '"manual"', "url": f'"{exchange}"', "timeframe": '"1s"', "poll_interval_s": "0.2",
                "leverage": "5", "take_profit_pct": "1", "stop_loss_pct": "1", **cfg}  # fmt: skip
    body = "\n".join(f"{k} = {v}" for k, v in settings.items())
    (tmp / "defibots.toml").write_text(f'[strategies.gmx_perp]\n{body}\n\n[gmx]\noracle_url = "{oracle}"\n')
    env = dict(os.environ, DEFIBOTS_STATE_DIR=str(tmp / "state"), COLUMNS="200")
    done = subprocess.run(
        [*CLI, "run", "gmx_perp", "--rpc", devnet.http_url, "--config", str(tmp / "defibots.toml"),
         "--duration", "6", *flags],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_manual_long_is_opened_at_the_portfolio_cap(
    world: tuple[Devnet, str, GmxService], tmp_path: Path
) -> None:
    devnet, exchange, svc = world
    d = g.deployment()
    eth = d.markets.market("ETH-USD")
    account = dev_account(0).address
    weth_usd = svc.oracle.price(eth.long.address).min
    usdc_usd = svc.oracle.price(eth.short.address).min
    held_usd = sum(
        balance(devnet, t.address, account) * p for t, p in ((eth.long, weth_usd), (eth.short, usdc_usd))
    )
    held_usd //= USD
    out = run_gmx_perp(tmp_path, devnet, exchange, svc.url, "--execute", collateral_usd="1000000000")
    assert "GMX orders simulated 1, sent 1 (executed 1)" in out
    reader = GmxReader(devnet.w3, d["SyntheticsReader"], d["DataStore"])
    (position,) = reader.account_positions(account)
    assert position.is_long and position.collateral_token == eth.short.address
    collateral_usd = position.collateral_amount * svc.oracle.price(eth.short.address).min // USD
    quarter = held_usd // 4  # 25% of what the account holds
    open_fee = 5 * quarter * 7 // 10_000  # 0.07% of the 5x size comes out of the collateral
    assert abs(collateral_usd - (quarter - open_fee)) <= quarter // 10_000
    assert position.size_in_usd // USD == pytest.approx(5 * quarter, rel=1e-4)
    with Journal(tmp_path / "state" / "journal.sqlite") as journal:
        statuses = [o.status for o in journal.orders()]
    assert "filled" in statuses


def test_shadow_simulates_and_sends_nothing(world: tuple[Devnet, str, GmxService], tmp_path: Path) -> None:
    devnet, exchange, svc = world
    nonce = devnet.w3.eth.get_transaction_count(dev_account(0).address)
    out = run_gmx_perp(tmp_path, devnet, exchange, svc.url, "--shadow")
    assert "GMX orders simulated 1, sent 0 (none sent), shadow 1" in out
    assert devnet.w3.eth.get_transaction_count(dev_account(0).address) == nonce
