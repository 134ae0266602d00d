"""`defibots watch backrun` option resolution: which relays, which builder share, and one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from defibots.cli.backrun import DEFAULT_BUILDER_SHARE_BPS, backrun, builder_share
from defibots.cli.endpoints import resolve_relays
from defibots.config import ArbSettings, Settings
from defibots.errors import UserError


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEFIBOTS_STATE_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no defibots.toml of the user's
    return tmp_path


def test_builder_share_defaults_to_half_unless_configured_or_given() -> None:
    assert builder_share(None, Settings()) == DEFAULT_BUILDER_SHARE_BPS == 5_000
    assert builder_share(None, Settings(arb=ArbSettings(builder_share_bps=1_234))) == 1_234
    assert builder_share(0, Settings(arb=ArbSettings(builder_share_bps=1_234))) == 0
    assert builder_share(9_000, Settings()) == 9_000


def test_relays_come_from_the_flag_then_settings_then_the_running_local_relay(isolated: Path) -> None:
    configured = Settings(relay_urls=["https://relay.example"])
    assert resolve_relays(["http://127.0.0.1:1"], configured) == ["http://127.0.0.1:1"]
    assert resolve_relays(None, configured) == ["https://relay.example"]
    (isolated / "relay.json").write_text(json.dumps({"url": "http://127.0.0.1:8550", "pid": os.getpid()}))
    assert resolve_relays(None, configured) == ["https://relay.example"]  # the config beats the local relay
    assert resolve_relays(None, Settings()) == ["http://127.0.0.1:8550"]
    (isolated / "relay.json").write_text(json.dumps({"url": "http://127.0.0.1:8550", "pid": 2**22 + 1}))
    with pytest.raises(UserError, match="no relay: pass --relay URL"):
        resolve_relays(None, Settings())  # that relay is gone
    with pytest.raises(UserError, match="is not http"):
        resolve_relays(["ws://127.0.0.1:1"], Settings())


def test_command_errors_are_user_errors() -> None:
    app = typer.Typer()
    app.command()(backrun)
    both = CliRunner().invoke(app, ["--execute", "--shadow"])
    assert isinstance(both.exception, UserError)
    assert str(both.exception) == "--execute and --shadow exclude each other"
    no_relay = CliRunner().invoke(app, ["--shadow"])
    assert isinstance(no_relay.exception, UserError) and "no relay" in str(no_relay.exception)
    bad_share = CliRunner().invoke(app, ["--builder-share-bps", "10001", "--relay", "http://127.0.0.1:1"])
    assert bad_share.exit_code == 2 and "--builder-share-bps" in bad_share.output
