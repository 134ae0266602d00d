"""`defibots aave loop` on the replica: shadow prints the simulation and sends nothing; --execute opens and
closes a real loop; bad input is one error line, exit 2, nothing sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_utils import function_signature_to_4byte_selector
from typer.testing import CliRunner

from defibots.chain.aave_addresses import aave_v3_ethereum
from defibots.cli.main import app
from defibots.devnet.node import Devnet

runner = CliRunner()
SIGNER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # devnet account 0, the default devnet signer


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEFIBOTS_STATE_DIR", str(tmp_path))
    return tmp_path


def loop(devnet: Devnet, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["aave", "loop", *args, "--rpc", devnet.http_url])
    return result.exit_code, result.output


def loop_process(devnet: Devnet, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The installed entry point, which turns a UserError into one line and exit 2."""
    command = [sys.executable, "-m", "defibots.cli.main", "aave", "loop", *args, "--rpc", devnet.http_url]
    env = dict(os.environ, DEFIBOTS_STATE_DIR=str(state))
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def nonce(devnet: Devnet) -> int:
    return int(devnet.rpc("eth_getTransactionCount", SIGNER, "latest"), 16)


def test_shadow_then_execute_open_and_close(devnet: Devnet, state: Path) -> None:
    sent = nonce(devnet)
    open_args = ["open", "--collateral", "WETH:5", "--debt", "USDC", "--leverage", "2.5"]
    code, out = loop(devnet, *open_args)
    assert code == 0, out
    assert "simulated, not sent" in out and "health factor" in out
    assert nonce(devnet) == sent  # shadow sends nothing, not even the deployment
    code, out = loop(
        devnet, "open", "--collateral", "WETH:5", "--debt", "USDC", "--leverage", "2.5", "--execute"
    )
    assert code == 0, out
    assert "sent: 0x" in out and nonce(devnet) == sent + 3  # deploy, approve, open
    code, out = loop(devnet, "adjust", "--leverage", "2")
    assert code == 0 and "repay" in out, out
    code, out = loop(devnet, "close", "--execute")
    assert code == 0 and "aave loop close (sent)" in out, out
    assert "WETH: returned" in out and "journal: equal to the wei" in out, out
    assert "off by" not in out
    assert (state / "journal.sqlite").is_file()


def test_bad_input_is_one_error_line_and_exit_2(devnet: Devnet, state: Path) -> None:
    sent = nonce(devnet)

    def open_(collateral: str, leverage: str, *more: str) -> list[str]:
        return ["open", "--collateral", collateral, "--debt", "USDC", "--leverage", leverage, *more]

    cases = [
        (open_("WETH:1", "6"), "above the maximum 4.88"),
        (open_("PEPE:1", "2"), "unknown Aave reserve PEPE"),
        (open_("WETH", "2"), "give SYMBOL:AMOUNT"),
        (open_("WETH:1", "x"), "leverage 'x' is not a number"),
        (open_("WETH:1", "2", "--min-health-factor", "1.01"), "below 1.05"),
        (["close"], "open one first"),
        (["adjust", "--leverage", "2"], "open one first"),
    ]  # fmt: skip
    for args, message in cases:
        done = loop_process(devnet, state, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("error: ") and message in done.stderr, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr + done.stdout
    assert nonce(devnet) == sent


def test_debt_asset_with_borrowing_disabled_is_refused(devnet: Devnet, state: Path) -> None:
    market = aave_v3_ethereum()
    gov, usdc = market.acl_admin, market.asset("USDC").underlying
    data = function_signature_to_4byte_selector("setReserveBorrowing(address,bool)") + bytes(12)
    data += bytes.fromhex(usdc[2:]) + bytes(32)
    devnet.rpc("anvil_impersonateAccount", gov)
    tx = devnet.rpc(
        "eth_sendTransaction", {"from": gov, "to": market.pool_configurator, "data": "0x" + data.hex()}
    )
    devnet.rpc("anvil_stopImpersonatingAccount", gov)
    assert devnet.w3.eth.wait_for_transaction_receipt(tx, timeout=30)["status"] == 1
    done = loop_process(devnet, state, "open", "--collateral", "WETH:1", "--debt", "USDC", "--leverage", "2")
    assert done.returncode == 2 and "error: borrowing USDC is disabled" in done.stderr, done.stderr
