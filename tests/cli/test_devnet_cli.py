"""`defibots devnet` as a user runs it: real processes, one-line errors, nothing left running."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from defibots.devnet import replica as rep
from defibots.devnet.node import Devnet, DevnetOptions
from defibots.foundry.anvil import free_port, rpc_call

CLI = [sys.executable, "-m", "defibots.cli.main"]


@pytest.fixture
def state(tmp_path: Path, replica: Devnet) -> Path:
    """An isolated state dir holding a copy of the warm replica cache (the session fixture built it)."""
    shutil.copy(rep.cache_path(), tmp_path / rep.cache_path().name)
    return tmp_path


def run(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEFIBOTS_STATE_DIR=str(state))
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120)


def anvils_on(port: int) -> int:
    out = subprocess.run(["pgrep", "-f", f"anvil.*--port {port}"], capture_output=True, text=True)
    return len(out.stdout.split())


def assert_one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]


def test_up_detach_status_down(state: Path) -> None:
    port = free_port()
    up = run(state, "devnet", "up", "--detach", "--port", str(port))
    assert up.returncode == 0, up.stderr
    assert f"http://127.0.0.1:{port}" in up.stdout and "restored from cache" in up.stdout
    assert "chain id  31337" in up.stdout
    assert rpc_call(f"http://127.0.0.1:{port}", "eth_chainId") == "0x7a69"
    assert rep.replica_present(f"http://127.0.0.1:{port}")
    assert "0xac0974bec" not in up.stdout  # keys only with --show-keys
    status = run(state, "devnet", "status")
    assert status.returncode == 0 and f"127.0.0.1:{port}" in status.stdout
    again = run(state, "devnet", "up", "--detach", "--port", str(free_port()))
    assert_one_line_error(again, "already running")
    down = run(state, "devnet", "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert anvils_on(port) == 0
    assert run(state, "devnet", "status").returncode == 1


def test_unreachable_fork_url(state: Path) -> None:
    port, dead = free_port(), free_port()
    result = run(
        state, "devnet", "up", "--detach", "--port", str(port), "--fork-url", f"http://127.0.0.1:{dead}"
    )
    assert_one_line_error(result, "cannot reach --fork-url")
    assert anvils_on(port) == 0


def test_port_in_use(state: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run(state, "devnet", "up", "--detach", "--port", str(port))
    assert_one_line_error(result, "already in use")
    assert anvils_on(port) == 0


def test_unknown_flag(state: Path) -> None:
    result = run(state, "devnet", "up", "--bogus")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "--bogus" in result.stderr


def test_corrupt_cache_is_rebuilt(tmp_path: Path, replica: Devnet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFIBOTS_STATE_DIR", str(tmp_path))
    cache = rep.cache_path()
    cache.write_text('{"block": "garbage"')
    with Devnet.start(DevnetOptions()) as node:
        assert node.rebuilt
        assert rep.replica_present(node.http_url)
        # the rebuilt replica has the same reserves as the shared one (only the timestamp word differs)
        probe = {"to": "0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc", "data": "0x0902f1ac"}
        reserves = node.rpc("eth_call", probe, "latest")[:130]
        assert reserves == rpc_call(replica.http_url, "eth_call", [probe, "latest"])[:130]
    assert cache.stat().st_size > 1_000_000
    with Devnet.start(DevnetOptions()) as node:
        assert not node.rebuilt


def test_missing_toolchain_is_one_line(tmp_path: Path) -> None:
    """A checkout where `make setup` never ran: no anvil binary, no artifacts."""
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "package.json").write_text("{}")
    (root / "foundry.toml").write_text("")
    env = dict(os.environ, DEFIBOTS_ROOT=str(root), DEFIBOTS_STATE_DIR=str(tmp_path / "state"))
    for args in (["devnet", "up", "--detach", "--port", str(free_port())], ["devnet", "exec", "--", "true"]):
        result = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)
        assert_one_line_error(result, "run `make setup` first")
