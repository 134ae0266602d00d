"""Aave V3 Ethereum-market addresses, generated from npm @aave-dao/aave-address-book into
aave_addresses.json by scripts/gen_aave_addresses.py (never retyped). The devnet replica places the
core contracts and price feeds at these same addresses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

_JSON = Path(__file__).with_name("aave_addresses.json")


@dataclass(frozen=True)
class AaveAsset:
    """One listed asset as the address book states it (mainnet aToken/debt-token addresses included)."""

    symbol: str
    underlying: ChecksumAddress
    decimals: int
    reserve_id: int
    """The reserve's id on mainnet (its bit in user-config and e-mode bitmaps there)."""
    a_token: ChecksumAddress
    """Mainnet's aToken proxy; the devnet replica's aToken is at this same address."""
    variable_debt_token: ChecksumAddress
    """Mainnet's variable debt token (the replica's is `replica_variable_debt_token`)."""
    replica_variable_debt_token: ChecksumAddress
    price_source: ChecksumAddress
    """The feed AaveOracle reads for this asset (Chainlink aggregator interface)."""
    interest_rate_strategy: ChecksumAddress


@dataclass(frozen=True)
class AaveEMode:
    category_id: int
    label: str
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    """In bps over 100%: 10100 = +1%."""


@dataclass(frozen=True)
class AaveMarket:
    source: str
    pool_addresses_provider: ChecksumAddress
    pool: ChecksumAddress
    pool_configurator: ChecksumAddress
    acl_manager: ChecksumAddress
    acl_admin: ChecksumAddress
    oracle: ChecksumAddress
    protocol_data_provider: ChecksumAddress
    ui_pool_data_provider: ChecksumAddress
    weth_gateway: ChecksumAddress
    collector: ChecksumAddress
    liquidation_data_provider: ChecksumAddress
    """Not in the address book: a fixed replica-only address."""
    assets: dict[str, AaveAsset]
    e_modes: dict[int, AaveEMode]

    def asset(self, symbol: str) -> AaveAsset:
        try:
            return self.assets[symbol]
        except KeyError:
            raise KeyError(f"Aave market lists no {symbol!r} here (known: {sorted(self.assets)})") from None


def _a(value: Any) -> ChecksumAddress:
    return to_checksum_address(str(value))


@cache
def aave_v3_ethereum() -> AaveMarket:
    """The Aave V3 Ethereum core market (also the devnet replica's, chain id 31337)."""
    data = json.loads(_JSON.read_text())
    core = data["core"]
    assets = {
        sym: AaveAsset(
            symbol=sym,
            underlying=_a(a["UNDERLYING"]),
            decimals=int(a["decimals"]),
            reserve_id=int(a["id"]),
            a_token=_a(a["A_TOKEN"]),
            variable_debt_token=_a(a["V_TOKEN"]),
            replica_variable_debt_token=_a(data["replica_only"]["VARIABLE_DEBT_TOKEN"][sym]),
            price_source=_a(a["ORACLE"]),
            interest_rate_strategy=_a(a["INTEREST_RATE_STRATEGY"]),
        )
        for sym, a in data["assets"].items()
    }
    e_modes = {
        int(i): AaveEMode(
            int(i), str(e["label"]), int(e["ltv"]), int(e["liquidationThreshold"]), int(e["liquidationBonus"])
        )
        for i, e in data["e_modes"].items()
    }
    return AaveMarket(
        source=str(data["source"]),
        pool_addresses_provider=_a(core["POOL_ADDRESSES_PROVIDER"]),
        pool=_a(core["POOL"]),
        pool_configurator=_a(core["POOL_CONFIGURATOR"]),
        acl_manager=_a(core["ACL_MANAGER"]),
        acl_admin=_a(core["ACL_ADMIN"]),
        oracle=_a(core["ORACLE"]),
        protocol_data_provider=_a(core["AAVE_PROTOCOL_DATA_PROVIDER"]),
        ui_pool_data_provider=_a(core["UI_POOL_DATA_PROVIDER"]),
        weth_gateway=_a(core["WETH_GATEWAY"]),
        collector=_a(core["COLLECTOR"]),
        liquidation_data_provider=_a(data["replica_only"]["LIQUIDATION_DATA_PROVIDER"]),
        assets=assets,
        e_modes=e_modes,
    )
