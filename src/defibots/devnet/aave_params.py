"""The seeded Aave market of the devnet replica, read from aave_params.toml (each value's provenance is
stated there): per-reserve risk parameters, e-mode categories, and the suppliers and borrowers to seed."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PARAMS_FILE = Path(__file__).with_name("aave_params.toml")
RESERVE_ORDER = ("WETH", "WBTC", "USDC", "DAI", "USDT")
"""Listing order: mainnet's (its reserve ids 0, 2, 3, 4, 8; ids 0-4 on the replica)."""


@dataclass(frozen=True)
class ReserveParams:
    """Risk parameters in Aave's own units: bps, bonus as 10000 + premium, rates in bps, caps in tokens."""

    symbol: str
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    reserve_factor: int
    liquidation_protocol_fee: int
    optimal_usage_ratio: int
    base_variable_borrow_rate: int
    variable_rate_slope1: int
    variable_rate_slope2: int
    supply_cap: int
    borrow_cap: int


@dataclass(frozen=True)
class EModeParams:
    category_id: int
    label: str
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    collateral: tuple[str, ...]
    borrowable: tuple[str, ...]


@dataclass(frozen=True)
class SeededBorrower:
    collateral: dict[str, int]
    """Whole tokens supplied as collateral, by symbol."""
    debt: str
    health_factor: float
    e_mode: int = 0


@dataclass(frozen=True)
class AaveParams:
    flashloan_premium_total: int
    base_currency_unit: int
    reserves: dict[str, ReserveParams]
    e_modes: tuple[EModeParams, ...]
    suppliers: tuple[dict[str, int], ...]
    borrowers: tuple[SeededBorrower, ...]


@cache
def aave_params(path: Path = PARAMS_FILE) -> AaveParams:
    data: dict[str, Any] = tomllib.loads(path.read_text())
    reserves = {sym: ReserveParams(symbol=sym, **data["reserves"][sym]) for sym in RESERVE_ORDER}
    e_modes = tuple(
        EModeParams(
            category_id=int(cid),
            label=str(e["label"]),
            ltv=int(e["ltv"]),
            liquidation_threshold=int(e["liquidation_threshold"]),
            liquidation_bonus=int(e["liquidation_bonus"]),
            collateral=tuple(e["collateral"]),
            borrowable=tuple(e["borrowable"]),
        )
        for cid, e in sorted(data["e_modes"].items())
    )
    return AaveParams(
        flashloan_premium_total=int(data["market"]["flashloan_premium_total"]),
        base_currency_unit=int(data["market"]["base_currency_unit"]),
        reserves=reserves,
        e_modes=e_modes,
        suppliers=tuple(dict(s["supply"]) for s in data["suppliers"]),
        borrowers=tuple(
            SeededBorrower(
                dict(b["collateral"]), str(b["debt"]), float(b["health_factor"]), int(b.get("e_mode", 0))
            )
            for b in data["borrowers"]
        ),
    )
