"""Every command finds its RPC and relays the same way: the flag, then the config, then what this checkout
runs (.defibots/devnet.json, .defibots/relay.json). Each case makes the expected source the only one a
command can act on (a dead port or a non-http relay), so the error line names the endpoint the command
really chose. `--config` works on every bundle command as on `watch`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from defibots.cli.backrun import backrun_config
from defibots.cli.main import app
from defibots.cli.watch import watch_config
from defibots.config import Settings
from defibots.devnet.node import Devnet
from defibots.errors import UserError
from defibots.execution.bundles import Bundle, FeeDefaults, TxRequest, sign_request

FLAG_RPC = "http://127.0.0.1:9/flag"
CONFIG_RPC = "http://127.0.0.1:9/config"
DEVNET_RPC = "http://127.0.0.1:9/devnet"
DEAD_RELAY = "http://127.0.0.1:9"
NO_CODE = "0x000000000000000000000000000000000000dEaD"
GONE_PID = 2**22 + 1  # above the kernel's pid_max: never a live process


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state dir and cwd of our own; no endpoint from the environment (`devnet exec` sets some)."""
    monkeypatch.setenv("DEFIBOTS_STATE_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for name in ("DEFIBOTS_CONFIG", "DEFIBOTS_RPC_URL", "DEFIBOTS_WS_URL", "DEFIBOTS_RELAY_URLS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def running_devnet(state: Path, http_url: str, pid: int | None = None) -> None:
    info = {"pid": pid or os.getpid(), "http_url": http_url, "ws_url": http_url.replace("http", "ws")}
    (state / "devnet.json").write_text(json.dumps(info))


def running_relay(state: Path, url: str, pid: int | None = None) -> None:
    (state / "relay.json").write_text(json.dumps({"url": url, "pid": pid or os.getpid()}))


def bundle_file(state: Path) -> str:
    """A signed one-tx bundle (no node needed to sign) and its record, so `status` gets to the RPC."""
    tx = sign_request(Account.create(), TxRequest(to=NO_CODE, value=1), 31337, 0, 21_000, FeeDefaults(10**9))
    path = state / "bundle.json"
    path.write_text(json.dumps([tx.raw_hex]))
    bundle = Bundle((tx,), 5)
    (state / "bundles").mkdir(exist_ok=True)
    record = {"txs": [tx.raw_hex], "target_blocks": [5], "ours": []}
    (state / "bundles" / f"{bundle.bundle_hash_hex}.json").write_text(json.dumps(record))
    return bundle.bundle_hash_hex


def commands(state: Path) -> dict[str, list[str]]:
    bundle_hash = bundle_file(state)
    return {
        "bundle simulate": ["bundle", "simulate", str(state / "bundle.json")],
        "bundle send": ["bundle", "send", str(state / "bundle.json"), "--relay", DEAD_RELAY],
        "bundle status": ["bundle", "status", bundle_hash],
        "watch arb": ["watch", "arb", "--executor", NO_CODE],
        "watch backrun": ["watch", "backrun", "--executor", NO_CODE, "--relay", DEAD_RELAY],
        "deploy executor": ["deploy", "executor", "--deployments-dir", str(state / "deployments")],
    }


def user_error(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, UserError), (result.exception, result.output)
    return str(result.exception)


COMMANDS = [
    "bundle simulate",
    "bundle send",
    "bundle status",
    "watch arb",
    "watch backrun",
    "deploy executor",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_rpc_flag_beats_config_beats_running_devnet(isolated: Path, command: str) -> None:
    args = commands(isolated)[command]
    running_devnet(isolated, DEVNET_RPC)
    (isolated / "defibots.toml").write_text(f'rpc_url = "{CONFIG_RPC}"\n')
    assert FLAG_RPC in user_error([*args, "--rpc", FLAG_RPC])
    assert CONFIG_RPC in user_error(args)
    (isolated / "defibots.toml").unlink()
    assert DEVNET_RPC in user_error(args)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_devnet_that_is_gone_is_no_rpc(isolated: Path, command: str) -> None:
    running_devnet(isolated, DEVNET_RPC, pid=GONE_PID)
    message = user_error(commands(isolated)[command])
    assert message.startswith("no RPC: pass --rpc"), message


@pytest.mark.parametrize("command", ["bundle send", "watch backrun"])
def test_relay_flag_beats_config_beats_running_local_relay(isolated: Path, command: str) -> None:
    """Only the chosen source holds a relay URL that is not http(s), so the refusal names the choice."""
    args = [a for a in commands(isolated)[command] if a != DEAD_RELAY and a != "--relay"]
    args += ["--rpc", FLAG_RPC]
    running_relay(isolated, "ws://local-relay")
    (isolated / "defibots.toml").write_text('relay_urls = ["ws://config-relay"]\n')
    assert user_error([*args, "--relay", "ws://flag-relay"]) == "relay URL 'ws://flag-relay' is not http(s)"
    assert user_error(args) == "relay URL 'ws://config-relay' is not http(s)"
    (isolated / "defibots.toml").unlink()
    assert user_error(args) == "relay URL 'ws://local-relay' is not http(s)"
    running_relay(isolated, "ws://local-relay", pid=GONE_PID)
    assert user_error(args).startswith("no relay: pass --relay URL")


@pytest.mark.parametrize("command", ["bundle simulate", "bundle send", "bundle status"])
def test_bundle_commands_read_config_option(isolated: Path, command: str) -> None:
    elsewhere = isolated / "conf" / "bot.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(f'rpc_url = "{CONFIG_RPC}"\n')
    assert CONFIG_RPC in user_error([*commands(isolated)[command], "--config", str(elsewhere)])


@pytest.mark.parametrize("command", ["bundle simulate", "bundle send", "bundle status"])
def test_bundle_commands_bad_config_is_one_error_line(isolated: Path, command: str) -> None:
    bad = isolated / "bad.toml"
    bad.write_text("chain_id = -1\n")
    done = subprocess.run(
        [sys.executable, "-m", "defibots.cli.main", *commands(isolated)[command], "--config", str(bad)],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, DEFIBOTS_STATE_DIR=str(isolated)),
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: invalid config value chain_id: Input should be greater than 0"
    ]


def test_websocket_flag_then_config_then_the_devnet_that_is_the_rpc(isolated: Path, devnet: Devnet) -> None:
    """Both watchers: a configured websocket must answer; the devnet's is used only for the devnet's RPC."""
    devnet_ws, config_ws, flag_ws = (
        "ws://127.0.0.1:9/devnet",
        "ws://127.0.0.1:9/config",
        "ws://127.0.0.1:9/flag",
    )

    def chosen(ws: str | None, settings: Settings) -> tuple[str | None, bool]:
        arb = watch_config(settings, devnet.http_url, ws, NO_CODE, shadow=True)
        backrun = backrun_config(settings, devnet.http_url, ws, NO_CODE, [DEAD_RELAY], 0, 0, 1, shadow=True)
        assert backrun.ws_url == arb.ws_url
        return arb.ws_url, arb.ws_required

    info = {"pid": os.getpid(), "http_url": devnet.http_url, "ws_url": devnet_ws}
    (isolated / "devnet.json").write_text(json.dumps(info))
    assert chosen(flag_ws, Settings(ws_url=config_ws)) == (flag_ws, True)
    assert chosen(None, Settings(ws_url=config_ws)) == (config_ws, True)
    assert chosen(None, Settings()) == (devnet_ws, False)
    (isolated / "devnet.json").write_text(json.dumps({**info, "http_url": DEVNET_RPC}))
    assert chosen(None, Settings()) == (None, False)  # --rpc is another node than the devnet
    (isolated / "devnet.json").write_text(json.dumps({**info, "pid": GONE_PID}))
    assert chosen(None, Settings()) == (None, False)  # that devnet is gone


@pytest.mark.parametrize("command", ["bundle simulate", "bundle send"])
def test_keystore_flag_replaces_the_configs_key_env(
    isolated: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flag wins over the config's key_env as a whole: neither "not both" nor the unset variable."""
    unsigned = isolated / "unsigned.json"
    unsigned.write_text(json.dumps([{"to": NO_CODE, "gas": 21_000}]))
    keystore = isolated / "funds.json"
    keystore.write_text(json.dumps(Account.encrypt(Account.create().key, "pw", kdf="pbkdf2", iterations=16)))
    (isolated / "defibots.toml").write_text('key_env = "DEFIBOTS_TEST_UNSET_KEY"\n')
    monkeypatch.delenv("DEFIBOTS_TEST_UNSET_KEY", raising=False)
    monkeypatch.setenv("DEFIBOTS_KEYSTORE_PASSWORD", "not pw")
    args = [a if a != str(isolated / "bundle.json") else str(unsigned) for a in commands(isolated)[command]]
    assert user_error([*args, "--rpc", FLAG_RPC]) == (
        "funds key: environment variable DEFIBOTS_TEST_UNSET_KEY is not set"
    )
    assert user_error([*args, "--rpc", FLAG_RPC, "--keystore", str(keystore)]) == (
        f"wrong keystore password for {keystore}"
    )
