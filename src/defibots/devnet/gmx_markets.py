"""The GMX V2 markets the Arbitrum replica seeds, read from gmx_markets.toml (each value's provenance is
stated there), converted to GMX's integer units: factors and USD x 1e30, amounts in the token's
smallest unit."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

from defibots.chain import addresses as A
from defibots.errors import UserError
from defibots.protocols.gmx_v2.precision import FLOAT_PRECISION

MARKETS_FILE = Path(__file__).with_name("gmx_markets.toml")


@dataclass(frozen=True)
class GmxToken:
    symbol: str
    address: ChecksumAddress
    decimals: int


@dataclass(frozen=True)
class GmxMarketParams:
    """One market: its tokens, seeded pools, and every DataStore factor the stand-in reads (x 1e30)."""

    name: str
    label: str
    market_token: ChecksumAddress
    index: GmxToken
    long: GmxToken
    short: GmxToken
    long_pool_amount: int
    short_pool_amount: int
    position_impact_pool_amount: int
    position_fee_factor_positive: int
    position_fee_factor_negative: int
    position_impact_factor_positive: int
    position_impact_factor_negative: int
    position_impact_exponent_factor: int
    max_position_impact_factor_positive: int
    max_position_impact_factor_negative: int
    max_position_impact_factor_for_liquidations: int
    min_collateral_factor: int
    min_collateral_factor_for_liquidation: int
    max_open_interest_long_usd: int
    max_open_interest_short_usd: int
    reserve_factor_long: int
    reserve_factor_short: int
    max_pnl_factor_for_traders_long: int
    max_pnl_factor_for_traders_short: int
    borrowing_factor_long: int
    borrowing_factor_short: int
    borrowing_exponent_factor_long: int
    borrowing_exponent_factor_short: int
    funding_factor: int
    funding_exponent_factor: int


@dataclass(frozen=True)
class GmxMarketsConfig:
    min_collateral_usd: int
    min_position_size_usd: int
    estimated_gas_fee_base_amount: int
    """Gas units: the keeper keeps min(execution fee, this x gas price) and refunds the rest."""
    markets: tuple[GmxMarketParams, ...]

    def market(self, name: str) -> GmxMarketParams:
        for m in self.markets:
            if m.name == name:
                return m
        raise KeyError(name)


def _fixed(value: Any, scale: int, what: str) -> int:
    """A decimal string times `scale`, exactly (no float ever): "0.0005" x 1e30 = 5e26."""
    scaled = Decimal(str(value)) * scale
    if scaled != scaled.to_integral_value():
        raise UserError(f"gmx_markets.toml: {what} = {value!r} is finer than the unit it is stored in")
    return int(scaled)


_AMOUNT_FIELDS = ("long_pool_amount", "short_pool_amount", "position_impact_pool_amount")
_TEXT_FIELDS = ("label", "market_token", "index", "long", "short")


@cache
def gmx_markets(path: Path = MARKETS_FILE) -> GmxMarketsConfig:
    data: dict[str, Any] = tomllib.loads(path.read_text())
    extra = {
        sym: GmxToken(sym, to_checksum_address(t["address"]), int(t["decimals"]))
        for sym, t in data.get("index_tokens", {}).items()
    }

    def token(symbol: str) -> GmxToken:
        if symbol in extra:
            return extra[symbol]
        tok = A.ARBITRUM_BOOK.token(symbol)
        return GmxToken(symbol, tok.address, tok.decimals)

    markets = []
    for name, m in data["markets"].items():
        index, long, short = token(m["index"]), token(m["long"]), token(m["short"])
        decimals = {"long_pool_amount": long.decimals, "short_pool_amount": short.decimals,
                    "position_impact_pool_amount": index.decimals}  # fmt: skip
        numbers: dict[str, int] = {}
        for key, value in m.items():
            if key in _TEXT_FIELDS:
                continue
            scale = 10 ** decimals[key] if key in _AMOUNT_FIELDS else FLOAT_PRECISION
            numbers[key] = _fixed(value, scale, f"markets.{name}.{key}")
        markets.append(
            GmxMarketParams(
                name=name,
                label=str(m["label"]),
                market_token=to_checksum_address(m["market_token"]),
                index=index,
                long=long,
                short=short,
                **numbers,
            )
        )
    g = data["globals"]
    return GmxMarketsConfig(
        min_collateral_usd=_fixed(g["min_collateral_usd"], FLOAT_PRECISION, "globals.min_collateral_usd"),
        min_position_size_usd=_fixed(
            g["min_position_size_usd"], FLOAT_PRECISION, "globals.min_position_size_usd"
        ),
        estimated_gas_fee_base_amount=int(g["estimated_gas_fee_base_amount"]),
        markets=tuple(markets),
    )
