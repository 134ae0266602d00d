"""The GMX V2 stand-in on the Arbitrum replica: each contract of contracts-gmx/ at the address `@gmx-io/sdk`
lists for Arbitrum One (ours, where the SDK lists none), its roles granted, its markets registered at GMX's
own GM token addresses and seeded from gmx_markets.toml.

The keeper is a key of the dev mnemonic outside the funded range (index `KEEPER_INDEX`), so no test or
user account doubles as the keeper; it holds ORDER_KEEPER and LIQUIDATION_KEEPER, as GMX's keepers do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from eth_abi import encode
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.gmx import keys as K
from defibots.devnet.gmx_markets import GmxMarketParams, GmxMarketsConfig, gmx_markets
from defibots.errors import ToolchainError
from defibots.foundry.accounts import dev_account
from defibots.paths import project_root

KEEPER_INDEX = 20
"""The keeper's index on the dev mnemonic (m/44'/60'/0'/0/20): never one of the funded dev accounts."""


def keeper_address() -> ChecksumAddress:
    return to_checksum_address(dev_account(KEEPER_INDEX).address)


def own_address(name: str) -> ChecksumAddress:
    """Where a stand-in the SDK lists no address for lives: a fixed address derived from its name."""
    return to_checksum_address(keccak(f"defibots.gmx-standin.{name}".encode())[12:])


class Builder(Protocol):
    """What the stand-in's build step needs of the replica builder."""

    def rpc(self, method: str, *params: Any) -> Any: ...
    def send(self, sender: str, to: str | None, data: str, value: int = 0) -> str: ...
    def place(self, target: str, creation_code_hex: str, sender: str = ...) -> None: ...
    def check_receipts(self) -> None: ...


Addresses = Mapping[str, ChecksumAddress]


def _args(types: list[str], *names: str) -> Callable[[Addresses], bytes]:
    return lambda at: encode(types, [at[n] for n in names])


@dataclass(frozen=True)
class GmxPlacement:
    """One stand-in contract: its name (the SDK's, where the SDK lists it), artifact and constructor."""

    name: str
    artifact: str
    """Its forge artifact, relative to the project root."""
    constructor_args: Callable[[Addresses], bytes]
    """ABI-encoded constructor arguments, given every stand-in address by name."""
    in_sdk: bool = True
    """Whether `@gmx-io/sdk` CONTRACTS[42161] lists it (else it lives at `own_address(name)`)."""


def _artifact(source: str, contract: str | None = None) -> str:
    return f"out-gmx/{source}.sol/{contract or source}.json"


PLACEMENTS: tuple[GmxPlacement, ...] = (
    GmxPlacement("RoleStore", _artifact("RoleStore"), lambda _: b"", in_sdk=False),
    GmxPlacement("DataStore", _artifact("DataStore"), _args(["address"], "RoleStore")),
    GmxPlacement("EventEmitter", _artifact("EventEmitter"), _args(["address"], "RoleStore")),
    GmxPlacement("SyntheticsRouter", _artifact("Router"), _args(["address"], "RoleStore")),
    GmxPlacement("OrderVault", _artifact("Bank", "OrderVault"), _args(["address"], "RoleStore")),
    GmxPlacement(
        "PositionEvents",
        _artifact("PositionEvents"),
        _args(["address", "address"], "RoleStore", "EventEmitter"),
        in_sdk=False,
    ),
    GmxPlacement(
        "PositionHandler",
        _artifact("PositionHandler"),
        _args(["address"] * 5, "RoleStore", "DataStore", "EventEmitter", "OrderVault", "PositionEvents"),
        in_sdk=False,
    ),
    GmxPlacement(
        "OrderHandler",
        _artifact("OrderHandler"),
        _args(
            ["address"] * 6, "RoleStore", "DataStore", "EventEmitter", "OrderVault", "PositionHandler", "WETH"
        ),
        in_sdk=False,
    ),
    GmxPlacement(
        "ExchangeRouter",
        _artifact("ExchangeRouter"),
        _args(["address"] * 4, "SyntheticsRouter", "DataStore", "OrderHandler", "WETH"),
    ),
    GmxPlacement("SyntheticsReader", _artifact("Reader"), lambda _: b""),
    GmxPlacement(
        "Config", _artifact("Config"), _args(["address"] * 2, "RoleStore", "DataStore"), in_sdk=False
    ),
)
"""In placing order: each one's constructor arguments are placed before it."""

CONTROLLERS = ("Config", "PositionEvents", "PositionHandler", "OrderHandler", "ExchangeRouter")

ORACLE_PROVIDER_SDK_NAME = "ChainlinkPriceFeedProvider"
"""The provider the keeper names in its oracle params (an SDK address; the stand-in reads no code there)."""


@cache
def sdk_contracts() -> dict[str, ChecksumAddress]:
    """CONTRACTS[42161] of the pinned `@gmx-io/sdk` (CommonJS, read under node): GMX's own address list."""
    return {name: to_checksum_address(a) for name, a in _sdk_json("contracts", "CONTRACTS[42161]").items()}


def sdk_tokens() -> list[dict[str, object]]:
    """TOKENS[42161] of the pinned `@gmx-io/sdk`: symbol, name, decimals, address of each Arbitrum token."""
    tokens: list[dict[str, object]] = _sdk_json("tokens", "TOKENS[42161]")
    return tokens


def sdk_markets() -> dict[str, dict[str, object]]:
    """MARKETS[42161] of the pinned `@gmx-io/sdk`: market token -> index, long and short token addresses."""
    markets: dict[str, dict[str, object]] = _sdk_json("markets", "MARKETS[42161]")
    return markets


def _sdk_json(config: str, expression: str) -> Any:
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node not found: the GMX SDK's address lists are read with node")
    script = (
        f'const m = require("@gmx-io/sdk/configs/{config}");'
        f"process.stdout.write(JSON.stringify(m.{expression}));"
    )
    done = subprocess.run(
        [node, "-e", script], capture_output=True, text=True, cwd=project_root(), timeout=60, check=False
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolchainError(f"cannot read @gmx-io/sdk configs/{config} (run `make setup`): {tail}")
    return json.loads(done.stdout)


@dataclass(frozen=True)
class GmxDeployment:
    """Where everything of the stand-in is: what clients, the keeper and tests need."""

    contracts: dict[str, ChecksumAddress]
    keeper: ChecksumAddress
    oracle_provider: ChecksumAddress
    markets: GmxMarketsConfig

    def __getitem__(self, name: str) -> ChecksumAddress:
        return self.contracts[name]


def deployment() -> GmxDeployment:
    sdk = sdk_contracts()
    contracts = {p.name: sdk[p.name] if p.in_sdk else own_address(p.name) for p in PLACEMENTS}
    return GmxDeployment(contracts, keeper_address(), sdk[ORACLE_PROVIDER_SDK_NAME], gmx_markets())


def artifact_paths() -> list[Path]:
    """Every build output the placement reads: part of the replica's cache key."""
    return [project_root() / p.artifact for p in PLACEMENTS] + [
        project_root() / _artifact("Bank", "MarketToken")
    ]


def _creation_code(artifact: str, args: bytes) -> str:
    path = project_root() / artifact
    if not path.is_file():
        raise ToolchainError(f"GMX stand-in build output {path} missing; run `make build`")
    code = json.loads(path.read_text())["bytecode"]
    code = code["object"] if isinstance(code, dict) else code
    return str(code).removeprefix("0x") + args.hex()


def place_gmx(builder: Builder, deployer: str) -> GmxDeployment:
    """The GMX step of the replica build. Constructors run with `deployer` as msg.sender, so the RoleStore's
    admin is the deployer, which then grants the roles, registers the markets and seeds their pools."""
    d = deployment()
    at: dict[str, ChecksumAddress] = {**d.contracts, "WETH": A.ARBITRUM_BOOK.token("WETH").address}
    for p in PLACEMENTS:
        builder.place(at[p.name], _creation_code(p.artifact, p.constructor_args(at)), sender=deployer)
    builder.check_receipts()
    roles = [(at[name], K.CONTROLLER) for name in CONTROLLERS]
    roles += [(to_checksum_address(deployer), K.CONTROLLER), (at["ExchangeRouter"], K.ROUTER_PLUGIN)]
    roles += [(d.keeper, K.ORDER_KEEPER), (d.keeper, K.LIQUIDATION_KEEPER)]
    for account, role in roles:
        builder.send(deployer, at["RoleStore"], calldata("grantRole(address,bytes32)", account, role))
    config = at["Config"]
    builder.send(deployer, config, calldata("setOracleProvider(address,bool)", d.oracle_provider, True))
    builder.rpc("anvil_setBalance", d.keeper, hex(10**22))
    keys, values = _global_uints(d.markets)
    builder.check_receipts()  # placing while a tx is still being mined can lose the placed code (anvil)
    for market in d.markets.markets:
        _register_market(builder, deployer, at, market)
        market_keys, market_values = _market_uints(market)
        keys += market_keys
        values += market_values
    builder.send(deployer, config, calldata("setUints(bytes32[],uint256[])", keys, values))
    for market in d.markets.markets:
        _seed_pools(builder, deployer, config, market)
    builder.check_receipts()
    return d


def _register_market(builder: Builder, deployer: str, at: Addresses, m: GmxMarketParams) -> None:
    code = _creation_code(_artifact("Bank", "MarketToken"), encode(["address"], [at["RoleStore"]]))
    builder.place(m.market_token, code, sender=deployer)
    builder.check_receipts()
    builder.send(
        deployer,
        at["Config"],
        calldata(
            "registerMarket(address,address,address,address)",
            m.market_token,
            m.index.address,
            m.long.address,
            m.short.address,
        ),
    )


def _global_uints(cfg: GmxMarketsConfig) -> tuple[list[bytes], list[int]]:
    pairs = [
        (K.MIN_COLLATERAL_USD, cfg.min_collateral_usd),
        (K.MIN_POSITION_SIZE_USD, cfg.min_position_size_usd),
        (K.ESTIMATED_GAS_FEE_BASE_AMOUNT_V2_1, cfg.estimated_gas_fee_base_amount),
    ]
    return [k for k, _ in pairs], [v for _, v in pairs]


def _market_uints(m: GmxMarketParams) -> tuple[list[bytes], list[int]]:
    """Every DataStore uint the stand-in reads for the market, keyed as GMX keys them."""
    mk = m.market_token
    pairs: list[tuple[bytes, int]] = [
        (K.position_impact_pool_amount(mk), m.position_impact_pool_amount),
        (K.max_position_impact_factor_for_liquidations(mk), m.max_position_impact_factor_for_liquidations),
        (K.min_collateral_factor(mk), m.min_collateral_factor),
        (K.min_collateral_factor_for_liquidation(mk), m.min_collateral_factor_for_liquidation),
        (K.funding_factor(mk), m.funding_factor),
        (K.funding_exponent_factor(mk), m.funding_exponent_factor),
    ]
    for positive, fee, impact, cap in (
        (True, m.position_fee_factor_positive, m.position_impact_factor_positive,
         m.max_position_impact_factor_positive),
        (False, m.position_fee_factor_negative, m.position_impact_factor_negative,
         m.max_position_impact_factor_negative),
    ):  # fmt: skip
        pairs += [
            (K.position_fee_factor(mk, positive), fee),
            (K.position_impact_factor(mk, positive), impact),
            (K.position_impact_exponent_factor(mk, positive), m.position_impact_exponent_factor),
            (K.max_position_impact_factor(mk, positive), cap),
        ]
    for is_long, oi, reserve, pnl, borrow, borrow_exp in (
        (True, m.max_open_interest_long_usd, m.reserve_factor_long, m.max_pnl_factor_for_traders_long,
         m.borrowing_factor_long, m.borrowing_exponent_factor_long),
        (False, m.max_open_interest_short_usd, m.reserve_factor_short, m.max_pnl_factor_for_traders_short,
         m.borrowing_factor_short, m.borrowing_exponent_factor_short),
    ):  # fmt: skip
        pairs += [
            (K.max_open_interest(mk, is_long), oi),
            (K.reserve_factor(mk, is_long), reserve),
            (K.max_pnl_factor(K.MAX_PNL_FACTOR_FOR_TRADERS, mk, is_long), pnl),
            (K.borrowing_factor(mk, is_long), borrow),
            (K.borrowing_exponent_factor(mk, is_long), borrow_exp),
        ]
    return [k for k, _ in pairs], [v for _, v in pairs]


def _seed_pools(builder: Builder, deployer: str, config: str, m: GmxMarketParams) -> None:
    """Mints (WETH: wraps) each pool token to the deployer and deposits it through Config.depositToPool."""
    for token, amount in ((m.long, m.long_pool_amount), (m.short, m.short_pool_amount)):
        if token.symbol == "WETH":
            builder.send(deployer, token.address, calldata("deposit()"), value=amount)
        else:
            builder.send(deployer, token.address, calldata("mint(address,uint256)", deployer, amount))
        builder.send(deployer, token.address, calldata("approve(address,uint256)", config, amount))
        builder.send(
            deployer,
            config,
            calldata("depositToPool(address,address,uint256)", m.market_token, token.address, amount),
        )
