"""`defibots deploy liquidator` and `defibots watch liquidations` on the replica: a deployment is recorded and
found again, the watcher indexes the replica's borrowers and prints its summary; a missing Liquidator or a
bad address is one error line with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from defibots.devnet.node import Devnet

pytestmark = pytest.mark.devnet


def cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEFIBOTS_STATE_DIR=str(tmp), DEFIBOTS_CONFIG=str(tmp / "none.toml"), COLUMNS="200")
    env.pop("DEFIBOTS_RPC_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "defibots.cli.main", *args],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=120,
    )  # fmt: skip


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


def test_deploy_then_watch_liquidations_in_shadow(devnet: Devnet, tmp_path: Path) -> None:
    url, relay = devnet.http_url, "http://127.0.0.1:9"  # shadow mode never calls the relay
    missing = cli(tmp_path, "watch", "liquidations", "--rpc", url, "--relay", relay, "--duration", "1")
    assert "no Liquidator recorded for chain 31337" in one_line_error(missing)
    bad = cli(tmp_path, "watch", "liquidations", "--rpc", url, "--relay", relay, "--liquidator", "0x12")
    assert "--liquidator '0x12' is not an address" in one_line_error(bad)

    deployed = cli(tmp_path, "deploy", "liquidator", "--rpc", url, "--fund-eth", "1")
    assert deployed.returncode == 0, deployed.stderr
    address = deployed.stdout.split("Liquidator at ")[1].split()[0]
    balance = devnet.rpc("eth_getBalance", address, "latest")
    assert int(balance, 16) == 10**18

    watched = cli(tmp_path, "watch", "liquidations", "--rpc", url, "--relay", relay, "--duration", "2")
    assert watched.returncode == 0, watched.stderr
    assert "shadow" in watched.stdout and "accounts most at risk" in watched.stdout
    summary = watched.stdout.split("done: ")[1]
    assert summary.startswith("liquidations: found 0, sent 0, included 0, lost 0"), summary
