"""`defibots bundle simulate/send/status` as a user runs them: real processes, a real anvil, a real local
relay (in a thread with its own event loop), one-line errors and exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from defibots.devnet.relay import LocalRelay
from defibots.execution.bundles import FeeDefaults, SignedTx, TxRequest, sign_request
from defibots.execution.keys import PASSWORD_ENV
from defibots.foundry.accounts import dev_accounts
from defibots.foundry.anvil import AnvilConfig, AnvilNode, rpc_call

CLI = [sys.executable, "-m", "defibots.cli.main", "bundle"]
REVERTER = str(to_checksum_address("0x00000000000000000000000000000000000000a2"))
CHAIN_ID = 31337


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    with AnvilNode(AnvilConfig(accounts=6)) as anvil:
        rpc_call(anvil.http_url, "anvil_setCode", [REVERTER, "0x365f5f37365ffd"])
        yield anvil


@pytest.fixture(scope="module")
def accounts() -> list[LocalAccount]:
    return dev_accounts(6)


def run(
    tmp: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, DEFIBOTS_STATE_DIR=str(tmp), COLUMNS="200", **(env or {}))
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=full_env, input=stdin, timeout=120, cwd=tmp
    )


def signed(node: AnvilNode, account: LocalAccount, to: str, offset: int = 0, **fields: Any) -> SignedTx:
    nonce = int(node.rpc("eth_getTransactionCount", account.address, "pending"), 16) + offset
    base = int(node.rpc("eth_getBlockByNumber", "pending", False)["baseFeePerGas"], 16)
    gas = fields.pop("gas", 100_000)
    return sign_request(account, TxRequest(to=to, **fields), CHAIN_ID, nonce, gas, FeeDefaults(base * 2))


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_simulate_prints_results_and_exit_codes(
    node: AnvilNode, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    a, b = accounts[1], accounts[2]
    good = tmp_path / "good.json"
    tx = signed(node, a, b.address, value=10**18, gas=21_000)
    good.write_text(json.dumps({"txs": [tx.raw_hex], "watch": [b.address]}))
    result = run(tmp_path, "simulate", str(good), "--rpc", node.http_url)
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "21,000" in result.stdout
    assert f"{b.address}" in result.stdout and "1,000,000,000,000,000,000" in result.stdout

    as_json = run(tmp_path, "simulate", str(good), "--rpc", node.http_url, "--json")
    response = json.loads(as_json.stdout)
    assert response["results"][0]["gasUsed"] == 21_000 and response["results"][0]["txHash"] == tx.hash_hex

    bad = tmp_path / "bad.json"
    reverting = signed(node, a, REVERTER, data=b"\x01")
    bad.write_text(json.dumps([reverting.raw_hex]))
    result = run(tmp_path, "simulate", str(bad), "--rpc", node.http_url)
    assert result.returncode == 1
    assert "REVERTED" in result.stdout
    assert f"tx 0 {reverting.hash_hex} reverted" in result.stderr

    allowed = tmp_path / "allowed.json"
    allowed.write_text(json.dumps([{"tx": reverting.raw_hex, "canRevert": True}]))
    result = run(tmp_path, "simulate", str(allowed), "--rpc", node.http_url)
    assert result.returncode == 0 and "reverted (allowed)" in result.stdout


def test_simulate_unsigned_from_stdin_signs_with_the_funds_key(
    node: AnvilNode, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    a, b = accounts[3], accounts[4]
    doc = json.dumps({"txs": [{"to": b.address, "value": "7"}, {"to": b.address, "value": 8, "gas": 21000}]})
    result = run(
        tmp_path,
        "simulate",
        "-",
        "--rpc",
        node.http_url,
        "--key-env",
        "FUNDS_KEY",
        "--json",
        stdin=doc,
        env={"FUNDS_KEY": a.key.hex()},
    )
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert [r["fromAddress"] for r in response["results"]] == [a.address, a.address]
    assert all(r["gasUsed"] == 21_000 for r in response["results"])

    no_key = run(tmp_path, "simulate", "-", "--rpc", node.http_url, stdin=doc)
    assert no_key.returncode == 2
    assert (
        one_line_error(no_key) == "error: stdin: has unsigned transactions but no funds key "
        "(--keystore, --key-env, or set keystore/key_env)"
    )


def test_malformed_file_and_unreachable_rpc_are_one_line_errors(node: AnvilNode, tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text('{"txs": [{"to": "0x12"}]}')
    result = run(tmp_path, "simulate", str(bad), "--rpc", node.http_url)
    assert result.returncode == 2
    assert one_line_error(result) == f"error: {bad}: txs[0].to is not a 20-byte hex address: '0x12'"
    missing = run(tmp_path, "simulate", str(tmp_path / "nope.json"), "--rpc", node.http_url)
    assert "not found" in one_line_error(missing)
    good = tmp_path / "g.json"
    good.write_text(json.dumps([{"to": None, "gas": 60000}]))
    dead = run(
        tmp_path,
        "simulate",
        str(good),
        "--rpc",
        "http://127.0.0.1:9",
        "--key-env",
        "K",
        env={"K": "0x" + "11" * 32},
    )
    assert dead.returncode == 2 and "cannot reach node at http://127.0.0.1:9" in one_line_error(dead)


class RelayThread:
    """A LocalRelay running in its own thread and event loop, so CLI subprocesses can talk to it."""

    def __init__(self, node_url: str, block_time: float) -> None:
        self.node_url = node_url
        self.block_time = block_time
        self.relay: LocalRelay | None = None
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop_event = asyncio.Event()
        self.relay = await LocalRelay(self.node_url, block_time=self.block_time).start()
        self.ready.set()
        await self.stop_event.wait()
        await self.relay.stop()

    def __enter__(self) -> LocalRelay:
        self.thread.start()
        assert self.ready.wait(30)
        assert self.relay is not None
        return self.relay

    def __exit__(self, *exc: object) -> None:
        assert self.loop is not None and self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)


def test_send_wait_and_status_through_the_local_relay(
    node: AnvilNode, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    a, b = accounts[1], accounts[5]
    with RelayThread(node.http_url, block_time=1.5) as relay:
        reverting = tmp_path / "reverting.json"
        reverting.write_text(json.dumps([signed(node, a, REVERTER, data=b"\x01").raw_hex]))
        refused = run(tmp_path, "send", str(reverting), "--rpc", node.http_url, "--relay", relay.url)
        assert refused.returncode == 2
        assert "not sent: tx 0 reverts in simulation" in one_line_error(refused)

        pay = tmp_path / "pay.json"
        tx = signed(node, a, b.address, value=10**15, gas=21_000)
        pay.write_text(json.dumps({"txs": [tx.raw_hex], "watch": [a.address]}))
        low = run(
            tmp_path, "send", str(pay), "--rpc", node.http_url, "--relay", relay.url, "--min-profit", "1"
        )
        assert low.returncode == 2 and "is below --min-profit 1" in one_line_error(low)
        assert relay.requests == 0  # nothing reached the relay

        sent = run(
            tmp_path,
            "send",
            str(pay),
            "--rpc",
            node.http_url,
            "--relay",
            relay.url,
            "--blocks",
            "4",
            "--wait",
            "--timeout",
            "30",
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        bundle_hash = sent.stdout.strip().splitlines()
        assert any(line.strip().startswith("0x") and len(line.strip()) == 66 for line in bundle_hash)
        assert "included" in sent.stdout
        receipt = node.rpc("eth_getTransactionReceipt", tx.hash_hex)
        assert receipt is not None and receipt["status"] == "0x1"
        hash_line = next(
            line.strip() for line in bundle_hash if line.strip().startswith("0x") and len(line.strip()) == 66
        )
        status = run(tmp_path, "status", hash_line, "--rpc", node.http_url)
        assert status.returncode == 0, status.stderr
        assert "included" in status.stdout and str(int(receipt["blockNumber"], 16)) in status.stdout

    unknown = run(tmp_path, "status", "0x" + "00" * 32, "--rpc", node.http_url)
    assert "unknown bundle" in one_line_error(unknown)


def test_send_signs_with_a_keystore_and_a_wrong_password_sends_nothing(
    node: AnvilNode, accounts: list[LocalAccount], tmp_path: Path
) -> None:
    owner, payee = accounts[3], accounts[4]
    keystore = tmp_path / "funds.json"
    encrypted = Account.encrypt(owner.key, "correct horse", kdf="pbkdf2", iterations=1024)
    keystore.write_text(json.dumps(encrypted))
    doc = tmp_path / "pay.json"
    doc.write_text(json.dumps({"txs": [{"to": payee.address, "value": "12345", "gas": 21000}]}))
    good, bad = {PASSWORD_ENV: "correct horse"}, {PASSWORD_ENV: "battery staple"}
    base = ["--rpc", node.http_url, "--keystore", str(keystore)]

    simulated = run(tmp_path, "simulate", str(doc), *base, "--json", env=good)
    assert simulated.returncode == 0, simulated.stderr
    assert [r["fromAddress"] for r in json.loads(simulated.stdout)["results"]] == [owner.address]

    nonce = int(node.rpc("eth_getTransactionCount", owner.address, "latest"), 16)
    before = int(node.rpc("eth_getBalance", payee.address, "latest"), 16)
    with RelayThread(node.http_url, block_time=1.5) as relay:
        wrong = run(tmp_path, "send", str(doc), *base, "--relay", relay.url, env=bad)
        assert wrong.returncode == 2
        assert one_line_error(wrong) == f"error: wrong keystore password for {keystore}"
        assert relay.requests == 0
        sent = run(
            tmp_path, "send", str(doc), *base, "--relay", relay.url, "--blocks", "4", "--wait",
            "--timeout", "30", env=good,
        )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "included" in sent.stdout
    assert int(node.rpc("eth_getBalance", payee.address, "latest"), 16) == before + 12345
    assert int(node.rpc("eth_getTransactionCount", owner.address, "latest"), 16) == nonce + 1
    secret = owner.key.hex().removeprefix("0x")
    assert all(secret not in out for out in (simulated.stdout, simulated.stderr, sent.stdout, sent.stderr))
