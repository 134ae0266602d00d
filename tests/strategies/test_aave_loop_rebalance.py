"""`defibots run aave_loop --execute` on the replica: after ETH falls 10% a 3x WETH loop's health factor
leaves its band, and the rebalancer brings it back inside in one transaction."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from defibots.devnet.aave_replica import set_aave_price
from defibots.devnet.node import Devnet
from defibots.execution.loop_operator import LoopOperator
from defibots.foundry.accounts import dev_account
from defibots.journal import Journal

CLI = [sys.executable, "-m", "defibots.cli.main"]
CONFIG = (
    '[strategies.aave_loop]\ncollateral = "WETH"\ndebt = "USDC"\ntarget_health_factor = 1.3\nband = 0.05\n'
)


def test_price_drop_is_rebalanced_into_the_band(
    devnet: Devnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("DEFIBOTS_STATE_DIR", str(state))
    op = LoopOperator(devnet.http_url, dev_account(0), state / "journal.sqlite", 31337)
    op.execute(op.plan_open("WETH", "USDC", Decimal(10), Decimal("2.7"), Decimal("1.1"), 30))
    opened = op.client.account().health_factor
    assert 1.25e18 < opened < 1.35e18  # inside the band 1.3 +- 0.05
    set_aave_price(devnet.http_url, "WETH", 2_700 * 10**8)
    dropped = op.client.account().health_factor
    assert dropped < 1.2e18
    (tmp_path / "defibots.toml").write_text(CONFIG)
    env = dict(os.environ, DEFIBOTS_STATE_DIR=str(state), COLUMNS="200")
    result = subprocess.run(
        [*CLI, "run", "aave_loop", "--execute", "--duration", "4", "--rpc", devnet.http_url,
         "--config", str(tmp_path / "defibots.toml")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    now = op.client.account().health_factor
    assert 1.25e18 <= now <= 1.35e18, now
    with Journal(state / "journal.sqlite") as journal:
        history = sorted(
            journal.position_history(journal.positions()[0].id or 0), key=lambda s: s.block_number
        )
        rebalance_sends = [s for s in journal.sends() if s.block_number > history[0].block_number]
    assert len(history) == 2 and history[-1].health_factor == now  # one step, journaled with its HF
    assert len(rebalance_sends) == 1
    assert "sent 1" in result.stdout
