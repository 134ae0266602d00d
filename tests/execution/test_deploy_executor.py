"""`defibots deploy executor` against real anvils: deploy, verify, record, refuse, --force, signer errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from defibots.cli.main import run
from defibots.execution.executor_client import ExecutorClient, runtime_code_hash
from defibots.execution.keys import PASSWORD_ENV
from defibots.foundry.anvil import AnvilConfig, AnvilNode, free_port
from defibots.paths import project_root

ANVIL_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
OWNER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
KEY = "0x" + "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a"


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilNode]:
    with AnvilNode() as node:
        yield node


@pytest.fixture
def w3(anvil: AnvilNode) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.http_url))


def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    """Runs the real entry point (UserErrors become one stderr line + exit code)."""
    monkeypatch.setattr(sys, "argv", ["defibots", *args])
    try:
        run()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def deploy_args(anvil: AnvilNode, out: Path, *extra: str) -> list[str]:
    return ["deploy", "executor", "--rpc", anvil.http_url, "--deployments-dir", str(out), *extra]


def record(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "31337.json").read_text())
    assert data["chainId"] == 31337
    entry: dict[str, Any] = data["contracts"]["Executor"]
    return entry


def test_deploy_verifies_and_records(
    anvil: AnvilNode,
    w3: Web3,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = deploy_args(anvil, tmp_path, "--owner", OWNER, "--allow", ALICE, "--allow", BOB)
    code, out, err = cli(capsys, monkeypatch, *args)
    assert (code, err) == (0, "")
    assert "Executor deployed" in out

    rec = record(tmp_path)
    executor = ExecutorClient(w3, rec["address"])
    assert executor.owner() == OWNER == rec["owner"]
    assert executor.is_caller(ALICE) and executor.is_caller(BOB) and not executor.is_caller(ANVIL_0)
    assert rec["allowedCallers"] == [ALICE, BOB]
    assert rec["deployer"] == ANVIL_0
    code_on_chain = bytes(w3.eth.get_code(executor.address))
    assert rec["codeHash"] == "0x" + keccak(code_on_chain).hex() == "0x" + runtime_code_hash().hex()
    receipt = w3.eth.get_transaction_receipt(rec["transactionHash"])
    assert receipt["contractAddress"] == rec["address"]
    assert receipt["blockNumber"] == rec["blockNumber"]
    assert receipt["gasUsed"] == rec["gasUsed"]
    assert rec["compiler"].startswith("solc 0.8.37")
    assert (rec["evmVersion"], rec["optimizerRuns"]) == ("cancun", 1_000_000)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_root(), capture_output=True, text=True)
    assert rec["gitCommit"] == head.stdout.strip()
    assert isinstance(rec["contractsDirty"], bool)
    assert (tmp_path / "31337.json").read_text().endswith("}\n")


def test_live_deployment_is_kept_unless_forced(
    anvil: AnvilNode,
    w3: Web3,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli(capsys, monkeypatch, *deploy_args(anvil, tmp_path))[0] == 0
    first = record(tmp_path)
    nonce = w3.eth.get_transaction_count(ANVIL_0)

    code, _, err = cli(capsys, monkeypatch, *deploy_args(anvil, tmp_path))
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"error: an Executor is already deployed at {first['address']} on chain 31337")
    assert "--force" in err
    assert w3.eth.get_transaction_count(ANVIL_0) == nonce
    assert record(tmp_path) == first

    assert cli(capsys, monkeypatch, *deploy_args(anvil, tmp_path, "--force"))[0] == 0
    second = record(tmp_path)
    assert second["address"] != first["address"]
    assert second["blockNumber"] > first["blockNumber"]
    assert w3.eth.get_transaction_count(ANVIL_0) == nonce + 1


def test_record_of_a_vanished_contract_is_replaced(
    anvil: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A devnet restart wipes the chain but not the record: no --force needed then."""
    stale = {"address": "0x000000000000000000000000000000000000dEaD", "owner": ANVIL_0}
    (tmp_path / "31337.json").write_text(
        json.dumps({"chainId": 31337, "contracts": {"Executor": stale, "Other": {"address": BOB}}})
    )
    assert cli(capsys, monkeypatch, *deploy_args(anvil, tmp_path))[0] == 0
    data = json.loads((tmp_path / "31337.json").read_text())
    assert data["contracts"]["Executor"]["address"] != stale["address"]
    assert data["contracts"]["Other"] == {"address": BOB}


def write_keystore(path: Path, password: str) -> Path:
    path.write_text(json.dumps(Account.encrypt(KEY, password, kdf="pbkdf2", iterations=1024)))
    return path


def test_wrong_keystore_password_sends_nothing(
    anvil: AnvilNode,
    w3: Web3,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keystore = write_keystore(tmp_path / "deployer.json", "right")
    deployer = Account.from_key(KEY).address
    anvil.rpc("anvil_setBalance", deployer, hex(10**18))
    nonces = (w3.eth.get_transaction_count(deployer), w3.eth.get_transaction_count(ANVIL_0))
    monkeypatch.setenv(PASSWORD_ENV, "wrong")

    code, out, err = cli(capsys, monkeypatch, *deploy_args(anvil, tmp_path, "--keystore", str(keystore)))
    assert code == 2
    assert err == f"error: wrong keystore password for {keystore}\n"
    assert (w3.eth.get_transaction_count(deployer), w3.eth.get_transaction_count(ANVIL_0)) == nonces
    assert not (tmp_path / "31337.json").exists()
    assert KEY[2:] not in out + err

    monkeypatch.setenv(PASSWORD_ENV, "right")
    assert cli(capsys, monkeypatch, *deploy_args(anvil, tmp_path, "--keystore", str(keystore)))[0] == 0
    assert record(tmp_path)["deployer"] == record(tmp_path)["owner"] == deployer
    assert w3.eth.get_transaction_count(deployer) == nonces[0] + 1


def test_other_chains_need_an_explicit_signer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with AnvilNode(AnvilConfig(chain_id=1337)) as node:
        args = ["deploy", "executor", "--rpc", node.http_url, "--deployments-dir", str(tmp_path)]
        code, _, err = cli(capsys, monkeypatch, *args)
        assert code == 2
        assert "chain 1337 is not a devnet: pass --keystore PATH or --key-env VAR" in err

        monkeypatch.setenv("DEPLOYER_KEY", KEY)
        code, out, err = cli(capsys, monkeypatch, *args, "--key-env", "DEPLOYER_KEY")
        assert (code, err) == (0, "")
        data = json.loads((tmp_path / "1337.json").read_text())
        assert data["contracts"]["Executor"]["deployer"] == Account.from_key(KEY).address
        assert KEY[2:] not in out


def test_unreachable_rpc_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, _, err = cli(
        capsys, monkeypatch, "deploy", "executor", "--rpc", url, "--deployments-dir", str(tmp_path)
    )
    assert code == 2
    assert err.startswith(f"error: cannot reach RPC {url}: ")
    assert err.count("\n") == 1
