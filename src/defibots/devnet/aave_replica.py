"""Aave v3.6 on the mainnet replica: the real core (npm @aave-dao/aave-v3-origin@3.6.0, BUSL-1.1, compiled
by the `aave` forge profile into out-aave/ and run locally for tests only) at its mainnet addresses.

`build_aave(builder)` runs inside `ReplicaBuilder.build`, so all of it lands in the cached replica state:
PoolAddressesProvider, ACLManager, the Pool and PoolConfigurator proxies, AaveOracle over Chainlink feeds
(Chainlink's own AggregatorProxy at each mainnet price-source address, in front of an OCR2 aggregator that
the devnet's oracle network updates: devnet/ocr_feed.py), the data providers and the WETH gateway; five
reserves and an e-mode category from aave_params.toml; suppliers and borrowers over a range of health factors.
aTokens and debt tokens stay where the configurator creates them (read them from the data provider).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from defibots.chain import addresses as A
from defibots.chain.aave_addresses import AaveMarket, aave_v3_ethereum
from defibots.chain.calldata import calldata
from defibots.devnet.aave_params import PARAMS_FILE, RESERVE_ORDER, AaveParams, aave_params
from defibots.devnet.ocr_feed import (
    SET_CONFIG,
    TRANSMITTER,
    TRANSMITTER_KEY,
    config_args,
    report,
    transmit_calldata,
)
from defibots.errors import ToolchainError, UserError
from defibots.foundry.anvil import rpc_call
from defibots.paths import forge_artifact, project_root

if TYPE_CHECKING:
    from defibots.devnet.replica import ReplicaBuilder

AAVE_OUT = "out-aave"
CHAINLINK_OUT = "out-chainlink"
MARKET_ID = "Aave Ethereum Market"
CONTRACTS = (
    "PoolAddressesProvider",
    "ACLManager",
    "DefaultReserveInterestRateStrategyV2",
    "PoolInstance",
    "PoolConfiguratorInstance",
    "InitializableImmutableAdminUpgradeabilityProxy",
    "AaveOracle",
    "AaveProtocolDataProvider",
    "ATokenInstance",
    "VariableDebtTokenInstance",
    "UiPoolDataProviderV3",
    "WrappedTokenGatewayV3",
    "LiquidationDataProvider",
)
FEED_DECIMALS = 8
FEED_UPDATE_GAS = 250_000
MAX_ANSWER = 2**191 - 1  # int192's maximum: mainnet's OCR2 feeds bound answers only from below (1)


def _artifact(name: str, source: str | None = None) -> dict[str, Any]:
    path = project_root() / AAVE_OUT / f"{source or name}.sol" / f"{name}.json"
    if not path.is_file():
        raise ToolchainError(f"Aave build output {path} missing; run `make build` (forge profile `aave`)")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _aggregator_bytecode() -> str:
    data = json.loads(forge_artifact("ReplicaAggregator.sol", "ReplicaAggregator").read_text())
    return str(data["bytecode"]["object"]).removeprefix("0x")


def _proxy_bytecode() -> str:
    path = project_root() / CHAINLINK_OUT / "AggregatorProxy.sol" / "AggregatorProxy.json"
    if not path.is_file():
        raise ToolchainError(
            f"Chainlink build output {path} missing; run `make build` (forge profile `chainlink`)"
        )
    return str(json.loads(path.read_text())["bytecode"]["object"]).removeprefix("0x")


def feed_aggregator(symbol: str) -> str:
    """Where the replica puts the OCR2 aggregator behind `symbol`'s price source (its proxy's aggregator)."""
    return to_checksum_address(keccak(text=f"defibots replica {symbol} / USD aggregator")[12:])


def cache_inputs() -> bytes:
    """Everything of the Aave part that shapes the replica state, for `replica.cache_key`."""
    h = hashlib.sha256()
    for module in ("aave_replica.py", "aave_params.py"):
        h.update((PARAMS_FILE.parent / module).read_bytes())
    h.update(PARAMS_FILE.read_bytes())
    h.update(json.dumps(aave_v3_ethereum().source).encode())
    h.update((project_root() / "src/defibots/chain/aave_addresses.json").read_bytes())
    for name in CONTRACTS:
        h.update(json.dumps(_artifact(name)["bytecode"]).encode())
    h.update(_aggregator_bytecode().encode())
    h.update(_proxy_bytecode().encode())
    h.update((PARAMS_FILE.parent / "ocr_feed.py").read_bytes())
    return h.digest()


def usd_price_8dec(symbol: str) -> int:
    from defibots.devnet.replica import USD_PRICE

    price: float = USD_PRICE[symbol] * 10**FEED_DECIMALS
    return round(price)


class AaveReplica:
    """One build of the Aave market onto a replica under construction (see module docstring)."""

    def __init__(self, builder: ReplicaBuilder, market: AaveMarket, params: AaveParams) -> None:
        self.b = builder
        self.m = market
        self.p = params
        self.gov = market.acl_admin  # mainnet's governance executor: provider owner, ACL and pool admin
        self._libraries: dict[str, str] = {}

    def build(self) -> None:
        from defibots.devnet.replica import DEPLOYER

        for who in (self.gov, TRANSMITTER):
            self.b.rpc("anvil_impersonateAccount", who)
            self.b.rpc("anvil_setBalance", who, hex(10**24))
        m, provider = self.m, self.m.pool_addresses_provider
        self._place(
            provider, self._code("PoolAddressesProvider", ["string", "address"], [MARKET_ID, self.gov])
        )
        self._gov(provider, "setACLAdmin(address)", self.gov)
        self._place(m.acl_manager, self._code("ACLManager", ["address"], [provider]))
        self._gov(provider, "setACLManager(address)", m.acl_manager)
        self._gov(m.acl_manager, "addPoolAdmin(address)", self.gov)
        strategy = m.asset("WETH").interest_rate_strategy
        self._place(strategy, self._code("DefaultReserveInterestRateStrategyV2", ["address"], [provider]))
        pool_impl = self.b.deploy(self._code("PoolInstance", ["address", "address"], [provider, strategy]))
        self._proxy(m.pool, pool_impl, "POOL")
        conf_impl = self.b.deploy(self._code("PoolConfiguratorInstance", [], []))
        self._proxy(m.pool_configurator, conf_impl, "POOL_CONFIGURATOR")
        self._place_oracle()
        self._place(m.protocol_data_provider, self._code("AaveProtocolDataProvider", ["address"], [provider]))
        self._gov(provider, "setPoolDataProvider(address)", m.protocol_data_provider)
        self.b.check_receipts()
        self._list_reserves(DEPLOYER)
        weth_feed = m.asset("WETH").price_source
        self._place(
            m.ui_pool_data_provider,
            self._code("UiPoolDataProviderV3", ["address", "address"], [weth_feed] * 2),
        )
        gateway_args = [A.TOKENS["WETH"].address, self.gov, m.pool]
        self._place(m.weth_gateway, self._code("WrappedTokenGatewayV3", ["address"] * 3, gateway_args))
        self._place(
            m.liquidation_data_provider,
            self._code("LiquidationDataProvider", ["address", "address"], [m.pool, provider]),
        )
        self.b.check_receipts()
        self._seed_depth(DEPLOYER)
        for who in (self.gov, TRANSMITTER):
            self.b.rpc("anvil_stopImpersonatingAccount", who)

    def _place(self, target: str, creation_code: str) -> None:
        """`ReplicaBuilder.place` after every queued tx is mined: constructors read what those wrote."""
        self.b.check_receipts()
        self.b.place(target, creation_code)

    def _code(self, name: str, types: list[str], args: list[Any]) -> str:
        """Creation code with libraries linked (deployed once each, on first use) and constructor args."""
        code = str(_artifact(name)["bytecode"]["object"]).removeprefix("0x")
        for file, libs in _artifact(name)["bytecode"]["linkReferences"].items():
            for lib, refs in libs.items():
                if lib not in self._libraries:
                    source = file.rsplit("/", 1)[-1].removesuffix(".sol")
                    lib_code = self._code_of(lib, source)
                    self._libraries[lib] = self.b.deploy(lib_code)
                for ref in refs:
                    start, length = 2 * ref["start"], 2 * ref["length"]
                    address = self._libraries[lib][2:].lower()
                    code = code[:start] + address + code[start + length :]
        return code + encode(types, args).hex()

    def _code_of(self, lib: str, source: str) -> str:
        data = _artifact(lib, source)
        if data["bytecode"]["linkReferences"]:
            return self._code(lib, [], [])
        return str(data["bytecode"]["object"]).removeprefix("0x")

    def _gov(self, to: str, signature: str, *args: Any) -> None:
        self.b.send(self.gov, to, calldata(signature, *args))

    def _proxy(self, target: str, implementation: str, provider_id: str) -> None:
        """An Aave proxy (admin = the provider) at the mainnet address, initialised like setPoolImpl does."""
        provider = self.m.pool_addresses_provider
        proxy = "InitializableImmutableAdminUpgradeabilityProxy"
        self._place(target, self._code(proxy, ["address"], [provider]))
        init = bytes.fromhex(calldata("initialize(address)", provider)[2:])
        self._gov(target, "initialize(address,bytes)", implementation, init)
        self._gov(provider, "setAddress(bytes32,address)", provider_id.encode().ljust(32, b"\0"), target)

    def _place_oracle(self) -> None:
        from defibots.devnet.replica import DEPLOYER

        assets, sources = [], []
        for sym in RESERVE_ORDER:
            asset, aggregator = self.m.asset(sym), feed_aggregator(sym)
            feed_args = encode(
                ["uint8", "string", "int192", "int192", "address"],
                [FEED_DECIMALS, f"{sym} / USD", 1, MAX_ANSWER, DEPLOYER],
            )
            self._place(aggregator, _aggregator_bytecode() + feed_args.hex())
            self.b.send(DEPLOYER, aggregator, calldata(SET_CONFIG, *config_args()))
            self.b.check_receipts()
            digest = _config_digest(self.b.url, aggregator)
            head = self.b.rpc("eth_getBlockByNumber", "latest", False)
            first = report(usd_price_8dec(sym), int(head["timestamp"], 16))
            self.b.send(TRANSMITTER, aggregator, transmit_calldata(digest, 1 << 8, first))
            self._place(asset.price_source, _proxy_bytecode() + encode(["address"], [aggregator]).hex())
            assets.append(asset.underlying)
            sources.append(asset.price_source)
        types = ["address", "address[]", "address[]", "address", "address", "uint256"]
        args = [self.m.pool_addresses_provider, assets, sources, "0x" + "00" * 20, "0x" + "00" * 20]
        self._place(self.m.oracle, self._code("AaveOracle", types, [*args, self.p.base_currency_unit]))
        self._gov(self.m.pool_addresses_provider, "setPriceOracle(address)", self.m.oracle)

    def _list_reserves(self, deployer: str) -> None:
        a_impl = self.b.deploy(
            self._code("ATokenInstance", ["address"] * 3, [self.m.pool, "0x" + "00" * 20, self.m.collector])
        )
        d_impl = self.b.deploy(
            self._code("VariableDebtTokenInstance", ["address"] * 2, [self.m.pool, "0x" + "00" * 20])
        )
        inputs = []
        for sym in RESERVE_ORDER:
            r = self.p.reserves[sym]
            rates = encode(
                ["(uint16,uint32,uint32,uint32)"],
                [
                    (
                        r.optimal_usage_ratio,
                        r.base_variable_borrow_rate,
                        r.variable_rate_slope1,
                        r.variable_rate_slope2,
                    )
                ],
            )
            names = (
                f"Aave Ethereum {sym}",
                f"aEth{sym}",
                f"Aave Ethereum Variable Debt {sym}",
                f"variableDebtEth{sym}",
            )
            inputs.append((a_impl, d_impl, self.m.asset(sym).underlying, *names, b"", rates))
        conf = self.m.pool_configurator
        init_type = "(address,address,address,string,string,string,string,bytes,bytes)[]"
        for sym, one in zip(RESERVE_ORDER, inputs, strict=True):
            # The configurator CREATEs the aToken then the debt token: from nonce 1 + 3 * id the aToken
            # lands on its mainnet address (see scripts/gen_aave_addresses.py).
            self.b.check_receipts()
            self.b.rpc("anvil_setNonce", conf, hex(1 + 3 * self.m.asset(sym).reserve_id))
            self._gov(conf, f"initReserves({init_type})", [one])
        for sym in RESERVE_ORDER:
            r, asset = self.p.reserves[sym], self.m.asset(sym).underlying
            sig = "configureReserveAsCollateral(address,uint256,uint256,uint256)"
            self._gov(conf, sig, asset, r.ltv, r.liquidation_threshold, r.liquidation_bonus)
            self._gov(conf, "setReserveBorrowing(address,bool)", asset, True)
            self._gov(conf, "setReserveFlashLoaning(address,bool)", asset, True)
            self._gov(conf, "setReserveFactor(address,uint256)", asset, r.reserve_factor)
            self._gov(conf, "setLiquidationProtocolFee(address,uint256)", asset, r.liquidation_protocol_fee)
            self._gov(conf, "setSupplyCap(address,uint256)", asset, r.supply_cap)
            self._gov(conf, "setBorrowCap(address,uint256)", asset, r.borrow_cap)
        self._gov(conf, "updateFlashloanPremium(uint128)", self.p.flashloan_premium_total)
        for e in self.p.e_modes:
            sig = "setEModeCategory(uint8,uint16,uint16,uint16,string)"
            self._gov(conf, sig, e.category_id, e.ltv, e.liquidation_threshold, e.liquidation_bonus, e.label)
            for sym in e.collateral:
                sig = "setAssetCollateralInEMode(address,uint8,bool)"
                self._gov(conf, sig, self.m.asset(sym).underlying, e.category_id, True)
            for sym in e.borrowable:
                sig = "setAssetBorrowableInEMode(address,uint8,bool)"
                self._gov(conf, sig, self.m.asset(sym).underlying, e.category_id, True)
        self.b.check_receipts()

    def _seed_depth(self, deployer: str) -> None:
        for i, supply in enumerate(self.p.suppliers):
            who = seeded_address("supplier", i)
            self._supply(deployer, who, supply)
            self.b.rpc("anvil_stopImpersonatingAccount", who)
        for i, borrower in enumerate(self.p.borrowers):
            who = seeded_address("borrower", i)
            collateral_base = self._supply(deployer, who, borrower.collateral)
            if borrower.e_mode:
                self.b.send(who, self.m.pool, calldata("setUserEMode(uint8)", borrower.e_mode))
                (lt,) = [e.liquidation_threshold for e in self.p.e_modes if e.category_id == borrower.e_mode]
            else:
                (lt,) = {self.p.reserves[sym].liquidation_threshold for sym in borrower.collateral}
            debt_token = A.TOKENS[borrower.debt]
            # HF = collateral * LT / debt (all in base): borrow what gives the seeded HF, a hair less.
            debt_base = collateral_base * lt / 10_000 / borrower.health_factor * 0.9999
            debt = int(debt_base * 10**debt_token.decimals / usd_price_8dec(borrower.debt))
            sig = "borrow(address,uint256,uint256,uint16,address)"
            self.b.send(who, self.m.pool, calldata(sig, debt_token.address, debt, 2, 0, who))
            self.b.check_receipts()
            self.b.rpc("anvil_stopImpersonatingAccount", who)

    def _supply(self, deployer: str, who: str, whole_tokens: dict[str, int]) -> int:
        """`who` supplies these amounts (tokens minted or wrapped first); returns their value in base."""
        raw = {sym: n * 10 ** A.TOKENS[sym].decimals for sym, n in whole_tokens.items()}
        self.b.rpc("anvil_impersonateAccount", who)
        self.b.rpc("anvil_setBalance", who, hex(10**21 + raw.get("WETH", 0)))  # once: txs are in flight
        for sym, amount in raw.items():
            token = A.TOKENS[sym].address
            if sym == "WETH":
                self.b.send(who, token, calldata("deposit()"), value=amount)
            else:
                self.b.send(deployer, token, calldata("mint(address,uint256)", who, amount))
            self.b.send(who, token, calldata("approve(address,uint256)", self.m.pool, amount))
            supply = calldata("supply(address,uint256,address,uint16)", token, amount, who, 0)
            self.b.send(who, self.m.pool, supply)
        self.b.check_receipts()
        return sum(n * usd_price_8dec(sym) for sym, n in whole_tokens.items())


def seeded_address(role: str, index: int) -> str:
    """The impersonated address of the index-th seeded supplier or borrower."""
    return to_checksum_address(keccak(text=f"defibots replica aave {role} {index}")[12:])


def build_aave(builder: ReplicaBuilder) -> None:
    builder.progress("aave v3.6")
    AaveReplica(builder, aave_v3_ethereum(), aave_params()).build()


def _config_digest(url: str, aggregator: str) -> bytes:
    raw = rpc_call(url, "eth_call", [{"to": aggregator, "data": calldata("latestConfigDetails()")}, "latest"])
    return bytes.fromhex(raw[2:])[64:96]


def _latest_epoch(url: str, aggregator: str) -> int:
    raw = rpc_call(
        url, "eth_call", [{"to": aggregator, "data": calldata("latestConfigDigestAndEpoch()")}, "latest"]
    )
    return int(raw[2 + 128 : 2 + 192], 16)


def update_calldata(url: str, symbol: str, price_8dec: int, nonce: int = 0) -> str:
    """The devnet DON's signed OCR2 `transmit` of a report whose median is `price_8dec` for `symbol`'s
    aggregator. Its epoch follows the transmitter's `nonce`, so updates signed ahead stay in order."""
    aggregator = feed_aggregator(symbol)
    head = rpc_call(url, "eth_getBlockByNumber", ["latest", False])
    epoch = max(_latest_epoch(url, aggregator), nonce) + 1
    update = report(price_8dec, int(head["timestamp"], 16))
    return transmit_calldata(_config_digest(url, aggregator), epoch << 8, update)


def price_update_tx(
    url: str, symbol: str, price_8dec: int, nonce: int | None = None, data: str | None = None
) -> str:
    """A signed price update (`update_calldata`) from the devnet's transmitter to the asset's aggregator
    (raw hex), not sent; `data` replaces the calldata (a malformed update, for tests)."""
    if nonce is None:
        nonce = int(rpc_call(url, "eth_getTransactionCount", [TRANSMITTER, "pending"]), 16)
    head = rpc_call(url, "eth_getBlockByNumber", ["latest", False])
    tip = 10**9
    tx = {
        "type": 2, "chainId": int(rpc_call(url, "eth_chainId", []), 16), "nonce": nonce,
        "to": feed_aggregator(symbol), "value": 0, "gas": FEED_UPDATE_GAS, "maxPriorityFeePerGas": tip,
        "maxFeePerGas": 2 * int(head.get("baseFeePerGas") or "0x0", 16) + tip,
        "data": data if data is not None else update_calldata(url, symbol, price_8dec, nonce),
    }  # fmt: skip
    signed = Account.sign_transaction(tx, TRANSMITTER_KEY)
    return "0x" + bytes(signed.raw_transaction).hex()


def send_price_update(url: str, symbol: str, price_8dec: int, data: str | None = None) -> str:
    """Put a signed feed update in the devnet's mempool and return its hash, without waiting for a block."""
    return str(rpc_call(url, "eth_sendRawTransaction", [price_update_tx(url, symbol, price_8dec, data=data)]))


def set_aave_price(url: str, symbol: str, price_8dec: int) -> str:
    """Publish a new USD answer (8 decimals) on the asset's feed, which AaveOracle reads; waits until it is
    mined and returns the tx hash."""
    tx_hash = send_price_update(url, symbol, price_8dec)
    for _ in range(2000):
        receipt = rpc_call(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            if int(receipt["status"], 16) != 1:
                raise UserError(f"price update on the {symbol} feed reverted ({tx_hash})")
            return tx_hash
        time.sleep(0.001)
    raise UserError(f"price update on the {symbol} feed was never mined ({tx_hash})")
