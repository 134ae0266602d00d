"""One settings model: defibots.toml, then DEFIBOTS_* env vars (env wins). Invalid values are UserErrors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from defibots.errors import UserError

DEFAULT_CONFIG_FILE = "defibots.toml"


class ArbSettings(BaseModel):
    """amm_arb strategy parameters."""

    base_token: str = "WETH"
    tokens: list[str] = Field(default_factory=lambda: ["WETH", "USDC", "USDT", "DAI", "WBTC"])
    min_profit_wei: int = Field(default=0, ge=0)
    builder_share_bps: int = Field(default=0, ge=0, le=10_000)
    max_hops: int = Field(default=3, ge=2, le=4)
    priority_fee_wei: int = Field(default=1_000_000_000, ge=0)


class CexSettings(BaseModel):
    exchange: str = "binance"
    url: str | None = None
    symbols: list[str] = Field(default_factory=lambda: ["ETH/USDT"])
    taker_fee_bps: int = Field(default=10, ge=0, le=10_000)


class LegRiskPolicy(BaseModel):
    """What a hedged AMM-CEX trade does when its legs do not match (`[strategies.cex_amm_arb.policy]`).

    The on-chain leg always goes first: one swap whose min-out guard is the exact model's output, so it
    fills as predicted or reverts, and a revert leaves nothing to hedge (it costs its gas). The CEX leg then
    hedges a known amount with an IOC bounded at the price the edge was computed at. What it leaves open
    (a partial fill, a reject) is the residual:

    - `on_residual = "hedge"`: up to `hedge_attempts` more IOCs for the residual, each bounded a further
      `hedge_slippage_bps` beyond the first bound; what is still open after them is unwound;
    - `on_residual = "unwind"`: the residual's share of the on-chain leg is swapped back at once, guarded
      at the model's output less `unwind_slippage_bps`.

    A CEX order whose state is unknown (the venue does not answer within `cex_answer_timeout_s`) is never
    followed by another order for the same amount, which could fill twice: the trip is journaled
    "unhedged", alerted, and reconciled by client order id. A reorg that removes the on-chain leg within
    `confirmations` blocks rebroadcasts the signed leg (same nonce and guard: exact or a revert); if it has
    not landed again after `reorg_grace_blocks` blocks, the CEX leg is unwound with an IOC bounded by
    `hedge_slippage_bps`. Every decision is journaled in the round trip.
    """

    model_config = ConfigDict(extra="forbid")

    on_residual: str = Field(default="hedge", pattern="^(hedge|unwind)$")
    hedge_attempts: int = Field(default=2, ge=0, le=5)
    hedge_slippage_bps: int = Field(default=30, ge=0, le=1_000)
    unwind_slippage_bps: int = Field(default=50, ge=0, le=1_000)
    chain_leg_timeout_s: float = Field(default=60.0, gt=0)
    cex_answer_timeout_s: float = Field(default=10.0, gt=0)
    confirmations: int = Field(default=2, ge=0, le=64)
    reorg_grace_blocks: int = Field(default=3, ge=1, le=64)
    max_signal_age_s: float = Field(default=2.0, gt=0)
    """A signal whose book is older than this when its turn comes is dropped, not traded."""


class GmxSettings(BaseModel):
    """`[gmx]`: GMX V2 perps (`defibots gmx ...`)."""

    model_config = ConfigDict(extra="forbid")

    oracle_url: str | None = None
    """GMX's oracle keeper (default: the running devnet's, else https://arbitrum-api.gmxinfra.io)."""
    contracts: dict[str, str] = Field(default_factory=dict)
    """Addresses by the SDK's contract names, replacing the shipped @gmx-io/sdk ones (e.g. a fork)."""
    max_attempts: int = Field(default=3, ge=1, le=10)
    """How many times a market order the keeper cancels is created in all, before an alert and a stop."""
    backoff_seconds: float = Field(default=2.0, ge=0, le=600)
    """The wait before the first retry; doubled before each next one."""
    order_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    """How long to wait for the keeper's outcome of an order before reporting it still pending."""

    @field_validator("oracle_url")
    @classmethod
    def _oracle_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http(s)://")
        return value


CHAIN_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
DEFAULT_CHAIN = "default"
"""The name of the one chain the single-chain keys (rpc_url, ws_url, chain_id, relay_urls) describe."""


def _check_url(value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://", "ws://", "wss://")):
        raise ValueError("must start with http(s):// or ws(s)://")
    return value


class ChainSettings(BaseModel):
    """One `[chains.NAME]` section: where the chain is and which address book its contracts are in."""

    model_config = ConfigDict(extra="forbid")

    rpc_url: str | None = None
    ws_url: str | None = None
    chain_id: int | None = Field(default=None, gt=0)
    """The id the RPC must serve (checked at start); None accepts whatever it serves."""
    relay_urls: list[str] = Field(default_factory=list)
    address_book: str | None = None
    """A book name from chain/addresses.py (e.g. "mainnet"); None picks the book of the served chain id."""
    executor: str | None = None
    """The executor contract on this chain (default: what `deploy executor` recorded for its chain id)."""

    @field_validator("rpc_url", "ws_url")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        return _check_url(value)


class Settings(BaseSettings):
    """Everything a command may need; each field can be set in defibots.toml or as DEFIBOTS_<FIELD>."""

    model_config = SettingsConfigDict(
        env_prefix="DEFIBOTS_", env_nested_delimiter="__", extra="forbid", toml_file=DEFAULT_CONFIG_FILE
    )

    rpc_url: str | None = None
    ws_url: str | None = None
    chain_id: int | None = Field(default=None, gt=0)
    keystore: Path | None = None
    key_env: str | None = None
    relay_urls: list[str] = Field(default_factory=list)
    relay_signing_key_env: str | None = None
    journal_path: Path | None = None
    arb: ArbSettings = Field(default_factory=ArbSettings)
    cex: CexSettings = Field(default_factory=CexSettings)
    gmx: GmxSettings = Field(default_factory=GmxSettings)
    strategies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """`[strategies.NAME]` sections, raw: each registered strategy validates its own (see registry.py)."""
    chains: dict[str, ChainSettings] = Field(default_factory=dict)
    """`[chains.NAME]` sections; without any, the single-chain keys are one chain named "default"."""

    @field_validator("rpc_url", "ws_url")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        return _check_url(value)

    @field_validator("chains")
    @classmethod
    def _chain_names(cls, value: dict[str, ChainSettings]) -> dict[str, ChainSettings]:
        for name in value:
            if not CHAIN_NAME.match(name):
                raise ValueError(f"chain name {name!r} must be lowercase letters, digits, '_' or '-'")
        ids = [c.chain_id for c in value.values() if c.chain_id is not None]
        if len(ids) != len(set(ids)):
            raise ValueError("two chains name the same chain_id")
        return value

    def chain_sections(self) -> dict[str, ChainSettings]:
        """The configured chains by name: the `[chains.*]` sections, else the shorthand as "default"."""
        if self.chains:
            return dict(self.chains)
        shorthand = ChainSettings(
            rpc_url=self.rpc_url, ws_url=self.ws_url, chain_id=self.chain_id, relay_urls=list(self.relay_urls)
        )
        return {DEFAULT_CHAIN: shorthand}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read and validate settings; a bad file or value becomes one UserError line naming the field."""
    if config_file is not None and not config_file.is_file():
        raise UserError(f"config file {config_file} not found")
    path = config_file or Path(os.environ.get("DEFIBOTS_CONFIG", DEFAULT_CONFIG_FILE))

    class FileSettings(Settings):
        model_config = SettingsConfigDict(**{**Settings.model_config, "toml_file": path})

    try:
        return FileSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "config"
        raise UserError(f"invalid config value {where}: {first['msg']}") from None
    except ValueError as exc:  # malformed TOML
        raise UserError(f"cannot read config: {exc}") from None
