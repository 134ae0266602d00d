"""`defibots aave markets|account` on the replica: the numbers printed are the chain's (the health factor
exactly as getUserAccountData returns it, liquidation prices at which the model's HF crosses 1), and bad
input is one error line and exit 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.protocols.aave_v3.replica_state import AaveOnChain
from tests.protocols.conftest import JsonRpc as ContractRpc
from typer.testing import CliRunner

from defibots.chain.aave_addresses import aave_v3_ethereum
from defibots.chain.addresses import TOKENS
from defibots.cli.main import app
from defibots.devnet.aave_replica import seeded_address, set_aave_price
from defibots.devnet.node import Devnet
from defibots.errors import UserError
from defibots.foundry.anvil import AnvilConfig, AnvilNode

pytestmark = pytest.mark.devnet
runner = CliRunner(env={"COLUMNS": "250"})
MARKET = aave_v3_ethereum()


def aave_cli(*args: str) -> str:
    result = runner.invoke(app, ["aave", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def one_line_error(tmp: Path, *args: str) -> str:
    env = dict(os.environ, DEFIBOTS_STATE_DIR=str(tmp), DEFIBOTS_CONFIG=str(tmp / "none.toml"))
    env.pop("DEFIBOTS_RPC_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "defibots.cli.main", "aave", *args],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_account_prints_the_chains_health_factor_and_liquidation_price(devnet: Devnet) -> None:
    chain = AaveOnChain(ContractRpc(devnet.http_url))
    borrower = seeded_address("borrower", 0)
    out = aave_cli("account", borrower, "--rpc", devnet.http_url)
    collateral, debt, _, _, _, hf = chain.pool.call("getUserAccountData", borrower)
    assert f"health factor   {hf // 10**18}.{hf % 10**18:018d}" in out
    assert f"collateral      ${collateral / 10**8:,.2f}" in out
    assert f"debt            ${debt / 10**8:,.2f}" in out
    (row,) = [line for line in out.splitlines() if "WETH" in line]
    liquidation = round(float(re.findall(r"\$([\d,]+\.\d\d)", row)[-1].replace(",", "")) * 100) * 10**6
    # at the printed liquidation price (rounded to cents) the account is (just) healthy, a cent lower not
    set_aave_price(devnet.http_url, "WETH", liquidation + 10**6)
    assert chain.pool.call("getUserAccountData", borrower)[5] >= 10**18
    set_aave_price(devnet.http_url, "WETH", liquidation - 10**6)
    assert chain.pool.call("getUserAccountData", borrower)[5] < 10**18
    after = aave_cli("account", borrower, "--rpc", devnet.http_url)
    hf_after = chain.pool.call("getUserAccountData", borrower)[5]
    assert f"health factor   0.{hf_after:018d}" in after


def test_account_without_positions_and_the_default_account(devnet: Devnet) -> None:
    out = aave_cli("account", "--rpc", devnet.http_url)
    assert devnet.accounts[0].address in out and "∞ (no debt)" in out and "no positions" in out


def test_markets_prints_prices_caps_and_totals(devnet: Devnet) -> None:
    chain = AaveOnChain(ContractRpc(devnet.http_url))
    out = aave_cli("markets", "--rpc", devnet.http_url)
    for asset in chain.assets:
        (symbol,) = [s for s, t in TOKENS.items() if t.address == asset]
        (row,) = [line for line in out.splitlines() if f" {symbol} " in line]
        price = chain.oracle.call("getAssetPrice", asset)
        assert f"${price / 10**8:,.2f}" in row
        config = chain.reserve(asset).configuration
        assert f"{config.ltv / 100:.2f}%" in row and f"{config.liquidation_threshold / 100:.2f}%" in row
        if config.supply_cap:
            assert f"{config.supply_cap:,}" in row
        decimals = config.decimals
        supplied = chain.a_token(asset).call("totalSupply")
        assert f"{supplied / 10**decimals:,.4f}" in row


def user_error(*args: str) -> str:
    """In-process: the UserError the entry point turns into one `error:` line and exit 2."""
    result = runner.invoke(app, ["aave", *args])
    assert isinstance(result.exception, UserError), (result.output, result.exception)
    assert result.exception.exit_code == 2
    return str(result.exception)


def test_bad_input_is_one_error_line(devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line = one_line_error(tmp_path, "account", "0x1234", "--rpc", devnet.http_url)  # the real entry point
    assert line == "error: '0x1234' is not an address"
    monkeypatch.setenv("DEFIBOTS_STATE_DIR", str(tmp_path))  # no running devnet recorded there
    monkeypatch.setenv("DEFIBOTS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("DEFIBOTS_RPC_URL", raising=False)
    assert "no RPC" in user_error("markets")
    assert "cannot reach" in user_error("markets", "--rpc", "http://127.0.0.1:9")
    with AnvilNode(AnvilConfig(chain_id=10)) as other:
        assert "chain 10 has no Aave v3 market" in user_error("markets", "--rpc", other.http_url)
    with AnvilNode(AnvilConfig()) as empty:
        assert "no Aave Pool" in user_error("account", MARKET.pool, "--rpc", empty.http_url)
