"""Strategy registration: built-ins found by module, third-party packages by entry point (a real
dist-info on the path, read by importlib.metadata in a fresh process), duplicates and bad settings as one
error line."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from defibots.engine import Capability
from defibots.errors import UserError
from defibots.strategies.registry import discover

CLI = [sys.executable, "-m", "defibots.cli.main"]
THIRD_PARTY = """
from pydantic import BaseModel
from defibots.strategies.pool_imbalance import PoolImbalanceStrategy
from defibots.strategies.registry import StrategySpec

class Settings(BaseModel):
    level: int = 1

STRATEGY = StrategySpec(
    name="{name}", summary="a strategy from another package", settings=Settings,
    build=lambda ctx, s: PoolImbalanceStrategy(ctx.market, 1), columns=("x",), rows=lambda s: [],
)
"""


def install(tmp: Path, ep_name: str, spec_name: str) -> dict[str, str]:
    """A package `acme_strategies` with a `defibots.strategies` entry point, importable via PYTHONPATH."""
    (tmp / "acme_strategies.py").write_text(THIRD_PARTY.format(name=spec_name))
    dist = tmp / "acme_strategies-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-strategies\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[defibots.strategies]\n{ep_name} = acme_strategies\n")
    return dict(os.environ, PYTHONPATH=str(tmp), COLUMNS="250")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=60)


def test_builtins_are_found_by_module_with_no_central_list() -> None:
    registry = discover(eps=[])
    assert registry.names() == ["aave_loop", "amm_arb", "cex_amm_arb", "gmx_perp", "pool_imbalance"]
    origins = {e.spec.name: e.origin for e in registry.entries()}
    assert origins == {
        "aave_loop": "defibots.strategies.aave_loop",
        "amm_arb": "defibots.strategies.amm_arb",
        "cex_amm_arb": "defibots.strategies.cex_amm_arb",
        "gmx_perp": "defibots.strategies.gmx_perp",
        "pool_imbalance": "defibots.strategies.pool_imbalance",
    }
    assert registry.get("amm_arb").executors == (Capability.PUBLIC_TX,)
    assert registry.get("pool_imbalance").executors == (Capability.RECORD,)


def test_unknown_name_lists_the_registered_ones() -> None:
    with pytest.raises(UserError) as err:
        discover(eps=[]).get("nope")
    names = "aave_loop, amm_arb, cex_amm_arb, gmx_perp, pool_imbalance"
    assert str(err.value) == f"unknown strategy 'nope' (registered: {names})"


def test_a_third_party_entry_point_is_registered(tmp_path: Path) -> None:
    result = cli(install(tmp_path, "acme", "acme"), "strategies")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "acme" in line)
    assert "a strategy from another package" in row
    assert "entry point acme = acme_strategies (acme-strategies)" in row
    assert "pool_imbalance" in result.stdout and "amm_arb" in result.stdout


def test_two_registrations_of_one_name_are_an_error(tmp_path: Path) -> None:
    result = cli(install(tmp_path, "pool_imbalance", "pool_imbalance"), "run", "--list")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: strategy 'pool_imbalance' is registered twice: by defibots.strategies.pool_imbalance and "
        "by entry point pool_imbalance = acme_strategies (acme-strategies)"
    ]


def test_an_entry_point_must_carry_its_strategys_name(tmp_path: Path) -> None:
    result = cli(install(tmp_path, "acme", "other"), "strategies")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: entry point acme = acme_strategies (acme-strategies) names strategy 'other'; "
        "the entry point must be named the same"
    ]


def test_settings_are_validated_with_one_line_per_mistake() -> None:
    spec = discover(eps=[]).get("pool_imbalance")
    assert spec.parse_settings({"min_gap_bps": "12.5"}).min_gap_bps == Decimal("12.5")
    with pytest.raises(UserError) as err:
        spec.parse_settings({"min_gap": 5})
    assert str(err.value) == "unknown key strategies.pool_imbalance.min_gap (known: tokens, min_gap_bps)"
    with pytest.raises(UserError) as err:
        spec.parse_settings({"min_gap_bps": -1})
    assert (
        str(err.value)
        == "invalid config value strategies.pool_imbalance.min_gap_bps: Input should be greater than 0"
    )
