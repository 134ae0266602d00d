"""Where GMX V2 lives on a chain: the client's contracts and the token list, from the shipped
chain/abi/gmx/arbitrum.json (written from @gmx-io/sdk's CONTRACTS[42161] / TOKENS[42161] by
scripts/gmx_abis.py), with per-contract overrides from settings. Nothing here runs node.

The Arbitrum replica (chain 31338) holds the GMX stand-in at the SDK's Arbitrum addresses, so it reads the
same file. Markets are not listed here: they are discovered on chain (Reader.getMarkets) and named by their
index token (`market_name`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address

from defibots.errors import UserError

ARBITRUM = 42161
ARBITRUM_DEVNET = 31338

DEPLOYMENT_FILES = {"arbitrum.json": ARBITRUM}
"""Shipped file -> the SDK chain id it is generated from."""
CHAIN_FILES = {ARBITRUM: "arbitrum.json", ARBITRUM_DEVNET: "arbitrum.json"}
"""Chain id -> the file whose addresses it uses (the replica holds the stand-in at Arbitrum's)."""

CONTRACT_NAMES = (
    "DataStore",
    "EventEmitter",
    "ExchangeRouter",
    "OrderVault",
    "SyntheticsReader",
    "SyntheticsRouter",
    "ReferralStorage",
)
"""The SDK's names of the contracts the client talks to (a subset of CONTRACTS[chain])."""
TOKEN_FIELDS = ("symbol", "address", "decimals", "isSynthetic", "baseSymbol", "assetSymbol", "isNative")
"""The SDK token fields the file keeps."""

DEFAULT_ORACLE_URL = "https://arbitrum-api.gmxinfra.io"
"""GMX's own oracle keeper for Arbitrum One (the SDK's default for 42161)."""


@dataclass(frozen=True, slots=True)
class GmxToken:
    """One token of the SDK's list. `name` is what a user types: the asset symbol where the SDK has one
    (WBTC for the SDK's "BTC" wrapped bitcoin), else the symbol."""

    symbol: str
    address: ChecksumAddress
    decimals: int
    is_synthetic: bool = False
    base_symbol: str | None = None
    asset_symbol: str | None = None
    is_native: bool = False

    @property
    def name(self) -> str:
        return self.asset_symbol or self.symbol

    @property
    def index_name(self) -> str:
        """How a market with this index token is named: ETH for WETH, BTC for BTC."""
        return self.base_symbol or self.symbol


@dataclass(frozen=True)
class GmxDeployment:
    """GMX's contracts on one chain (by SDK name) and its tokens."""

    chain_id: int
    contracts: Mapping[str, ChecksumAddress]
    tokens: tuple[GmxToken, ...]
    source: str

    def __getitem__(self, name: str) -> ChecksumAddress:
        try:
            return self.contracts[name]
        except KeyError:
            raise UserError(f"no GMX contract {name!r} known for chain {self.chain_id}") from None

    @property
    def data_store(self) -> ChecksumAddress:
        return self["DataStore"]

    @property
    def reader(self) -> ChecksumAddress:
        return self["SyntheticsReader"]

    @property
    def exchange_router(self) -> ChecksumAddress:
        return self["ExchangeRouter"]

    @property
    def router(self) -> ChecksumAddress:
        """The SyntheticsRouter: what a trader approves (it pulls the collateral)."""
        return self["SyntheticsRouter"]

    @property
    def order_vault(self) -> ChecksumAddress:
        return self["OrderVault"]

    @property
    def event_emitter(self) -> ChecksumAddress:
        return self["EventEmitter"]

    def token_at(self, address: str) -> GmxToken | None:
        """The token at `address` (the native ETH entry, address zero, is not a market token)."""
        wanted = address.lower()
        for t in self.tokens:
            if t.address.lower() == wanted and not t.is_native:
                return t
        return None

    def token_named(self, name: str) -> GmxToken | None:
        """A non-synthetic, non-native token by the name a user types (USDC, WETH, WBTC), any case."""
        wanted = name.upper()
        for t in self.tokens:
            if not t.is_synthetic and not t.is_native and t.name.upper() == wanted:
                return t
        return None


def market_name(index_token: GmxToken | None, index_address: str) -> str:
    """A market's short name: its index token's base symbol ("ETH", "BTC"), else the index address."""
    return index_token.index_name if index_token is not None else index_address


@cache
def _shipped(file_name: str) -> dict[str, object]:
    text = resources.files("defibots.chain.abi").joinpath("gmx", file_name).read_text()
    data: dict[str, object] = json.loads(text)
    return data


def _token(row: Mapping[str, object]) -> GmxToken:
    return GmxToken(
        symbol=str(row["symbol"]),
        address=to_checksum_address(str(row["address"])),
        decimals=int(str(row["decimals"])),
        is_synthetic=bool(row.get("isSynthetic", False)),
        base_symbol=str(row["baseSymbol"]) if row.get("baseSymbol") else None,
        asset_symbol=str(row["assetSymbol"]) if row.get("assetSymbol") else None,
        is_native=bool(row.get("isNative", False)),
    )


def gmx_deployment(chain_id: int, overrides: Mapping[str, str] | None = None) -> GmxDeployment:
    """GMX on `chain_id`: the shipped SDK addresses, each replaceable by `overrides` (SDK name -> address,
    the `[gmx.contracts]` settings). A chain with no shipped file needs every contract overridden."""
    overrides = dict(overrides or {})
    for name, address in overrides.items():
        if name not in CONTRACT_NAMES:
            raise UserError(
                f"gmx.contracts.{name}: not a GMX contract the client uses ({', '.join(CONTRACT_NAMES)})"
            )
        if not is_address(address):
            raise UserError(f"gmx.contracts.{name}: {address!r} is not an address")
    file_name = CHAIN_FILES.get(chain_id)
    contracts: dict[str, ChecksumAddress] = {}
    tokens: tuple[GmxToken, ...] = ()
    source = "settings"
    if file_name is not None:
        data = _shipped(file_name)
        raw_contracts = data["contracts"]
        raw_tokens = data["tokens"]
        assert isinstance(raw_contracts, dict) and isinstance(raw_tokens, list)  # the shipped file's shape
        contracts = {str(k): to_checksum_address(str(v)) for k, v in raw_contracts.items()}
        tokens = tuple(_token(t) for t in raw_tokens)
        source = str(data["source"])
    contracts.update({k: to_checksum_address(v) for k, v in overrides.items()})
    missing = [n for n in CONTRACT_NAMES if n not in contracts and n != "ReferralStorage"]
    if missing:
        raise UserError(
            f"GMX is not known on chain {chain_id}: set gmx.contracts ({', '.join(missing)}) in defibots.toml"
        )
    return GmxDeployment(chain_id, contracts, tokens, source)
