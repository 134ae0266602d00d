"""The mainnet replica: real Uniswap/WETH bytecode and mainnet-like tokens at mainnet addresses on anvil.

Built once from the npm artifacts, seeded with markets of mainnet's order of magnitude, then cached as an
anvil state dump keyed by a hash of everything that went into it, so the next start is a ~10 ms restore.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi import encode
from eth_utils import keccak, to_checksum_address

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.pool_address import v2_pair_address, v3_pool_address
from defibots.devnet import aave_replica
from defibots.errors import UserError
from defibots.foundry.anvil import rpc_call
from defibots.paths import forge_artifact, npm_artifact, state_dir

REPLICA_VERSION = "replica-1"
DEPLOYER = to_checksum_address(keccak(text="defibots replica deployer")[12:])
"""Impersonated deployer and liquidity holder, so the dev accounts start clean (nonce 0)."""

USD_PRICE: dict[str, float] = {"WETH": 3000.0, "WBTC": 60000.0, "USDC": 1.0, "USDT": 1.0, "DAI": 1.0}
DEV_ACCOUNT_FUNDING: dict[str, int] = {"USDC": 10_000_000, "USDT": 10_000_000, "DAI": 10_000_000, "WBTC": 500}
DEV_ACCOUNT_WETH = 2_000
V3_POSITIONS_PER_POOL = 48

ARTIFACTS = {
    "WETH9": "canonical-weth/build/contracts/WETH9.json",
    "V2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "V2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
    "V3Factory": "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
    "SwapRouter": "@uniswap/v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json",
    "QuoterV2": "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json",
    "NPM": "@uniswap/v3-periphery/artifacts/contracts/NonfungiblePositionManager.sol/"
    "NonfungiblePositionManager.json",
    "Descriptor": "@uniswap/v3-periphery/artifacts/contracts/NonfungibleTokenPositionDescriptor.sol/"
    "NonfungibleTokenPositionDescriptor.json",
    "NFTDescriptor": "@uniswap/v3-periphery/artifacts/contracts/libraries/NFTDescriptor.sol/"
    "NFTDescriptor.json",
    "SwapRouter02": "@uniswap/swap-router-contracts/artifacts/contracts/SwapRouter02.sol/SwapRouter02.json",
}
TOKEN_ARTIFACTS = {
    "standard": ("ReplicaToken.sol", "ReplicaToken"),
    "tether": ("ReplicaToken.sol", "ReplicaTetherToken"),
}


@dataclass(frozen=True)
class MarketSpec:
    """One seeded pair: a V2 pair plus V3 pools at the fee tiers mainnet has for it. Depths in USD."""

    token_a: str
    token_b: str
    v2_depth_usd: float
    v3_fees: tuple[int, ...]
    v3_depth_usd: float


MARKETS: tuple[MarketSpec, ...] = (
    MarketSpec("WETH", "USDC", 40e6, (500, 3000), 30e6),
    MarketSpec("WETH", "USDT", 20e6, (500, 3000), 15e6),
    MarketSpec("WETH", "DAI", 10e6, (500, 3000), 8e6),
    MarketSpec("WBTC", "WETH", 20e6, (500, 3000), 20e6),
    MarketSpec("USDC", "USDT", 5e6, (100, 500), 20e6),
    MarketSpec("DAI", "USDC", 5e6, (100, 500), 20e6),
)


@dataclass(frozen=True)
class SeededPool:
    """Where a seeded market lives; addresses are the mainnet CREATE2 addresses for the same tokens."""

    protocol: str  # "v2" | "v3"
    token0: str
    token1: str
    fee: int  # V3 fee in hundredths of a bip; 3000 for V2 (0.3%)
    address: str


def sorted_pair(sym_a: str, sym_b: str) -> tuple[A.Token, A.Token]:
    a, b = A.TOKENS[sym_a], A.TOKENS[sym_b]
    return (a, b) if int(a.address, 16) < int(b.address, 16) else (b, a)


def seeded_pools() -> list[SeededPool]:
    """Every pool the replica seeds, with its address computed off-chain (CREATE2)."""
    pools: list[SeededPool] = []
    for m in MARKETS:
        t0, t1 = sorted_pair(m.token_a, m.token_b)
        pools.append(SeededPool("v2", t0.symbol, t1.symbol, 3000, v2_pair_address(t0.address, t1.address)))
        for fee in m.v3_fees:
            pools.append(
                SeededPool("v3", t0.symbol, t1.symbol, fee, v3_pool_address(t0.address, t1.address, fee))
            )
    return pools


def cache_key() -> str:
    """Hash of everything that shapes the replica: code, artifacts and market layout."""
    h = hashlib.sha256(REPLICA_VERSION.encode())
    h.update(Path(__file__).read_bytes())
    for rel in sorted(ARTIFACTS.values()):
        h.update(npm_artifact(rel).read_bytes())
    for source, name in sorted(TOKEN_ARTIFACTS.values()):
        h.update(json.dumps(_forge_bytecode(source, name)).encode())
    anvil_pkg = npm_artifact("@foundry-rs/anvil-linux-amd64/package.json")
    h.update(json.loads(anvil_pkg.read_text())["version"].encode())
    h.update(aave_replica.cache_inputs())
    return h.hexdigest()[:16]


def cache_path(key: str | None = None) -> Path:
    return state_dir() / f"replica-{key or cache_key()}.json"


def _forge_bytecode(source: str, name: str) -> str:
    data = json.loads(forge_artifact(source, name).read_text())
    return str(data["bytecode"]["object"])


def _npm_bytecode(name: str) -> str:
    data = json.loads(npm_artifact(ARTIFACTS[name]).read_text())
    code = data["bytecode"]
    if isinstance(code, dict):  # waffle/truffle/hardhat layouts differ
        code = code["object"]
    return str(code).removeprefix("0x")


class ReplicaBuilder:
    """Deploys and seeds the replica on an empty anvil reachable at `url` (automine on)."""

    def __init__(self, url: str, dev_accounts: Sequence[str], progress: Callable[[str], None] | None = None):
        self.url = url
        self.dev_accounts = list(dev_accounts)
        self.progress = progress or (lambda _msg: None)
        self.rng = random.Random(20240101)
        self._pending: list[str] = []

    def rpc(self, method: str, *params: Any) -> Any:
        return rpc_call(self.url, method, list(params), timeout=60)

    def send(self, sender: str, to: str | None, data: str, value: int = 0) -> str:
        tx: dict[str, Any] = {"from": sender, "data": data, "gas": hex(16_000_000), "value": hex(value)}
        if to is not None:
            tx["to"] = to
        tx_hash = str(self.rpc("eth_sendTransaction", tx))
        self._pending.append(tx_hash)
        return tx_hash

    def check_receipts(self) -> None:
        """Every queued tx must have succeeded; one batch call, not one per tx."""
        for tx_hash in self._pending:
            if int(self.receipt(tx_hash)["status"], 16) != 1:
                raise UserError(f"replica build failed: transaction {tx_hash} reverted")
        self._pending.clear()

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        """Automine answers eth_sendTransaction before the block exists: poll briefly for the receipt."""
        for _ in range(2000):
            receipt = self.rpc("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return dict(receipt)
            time.sleep(0.001)
        raise UserError(f"replica build failed: transaction {tx_hash} was never mined")

    def place(self, target: str, creation_code_hex: str, sender: str = DEPLOYER) -> None:
        """Put a contract at a fixed address: run its creation code there, then keep the returned runtime."""
        code = "0x" + creation_code_hex.removeprefix("0x")
        self.rpc("anvil_setCode", target, code)
        runtime = self.rpc(
            "eth_call", {"from": sender, "to": target, "data": "0x", "gas": hex(30_000_000)}, "latest"
        )
        self.receipt(self.send(sender, target, "0x"))  # must run against the creation code, so wait for it
        self.rpc("anvil_setCode", target, runtime)

    def deploy(self, creation_code_hex: str) -> str:
        tx_hash = self.send(DEPLOYER, None, "0x" + creation_code_hex.removeprefix("0x"))
        return to_checksum_address(self.receipt(tx_hash)["contractAddress"])

    def build(self) -> None:
        for who in (DEPLOYER, A.UNISWAP_V3_FACTORY_OWNER):
            self.rpc("anvil_impersonateAccount", who)
            self.rpc("anvil_setBalance", who, hex(10**30))
        self.progress("tokens")
        self._place_tokens()
        self.progress("uniswap v2")
        self.place(A.UNISWAP_V2_FACTORY, _npm_bytecode("V2Factory") + encode(["address"], [DEPLOYER]).hex())
        self.place(
            A.UNISWAP_V2_ROUTER02,
            _npm_bytecode("V2Router02")
            + encode(["address", "address"], [A.UNISWAP_V2_FACTORY, A.TOKENS["WETH"].address]).hex(),
        )
        self.progress("uniswap v3")
        self._place_v3()
        self.check_receipts()
        self.progress("markets")
        self._fund_deployer()
        for market in MARKETS:
            self._seed_market(market)
            self.check_receipts()
        self.progress("dev accounts")
        self._fund_dev_accounts()
        self.check_receipts()
        aave_replica.build_aave(self)
        for who in (DEPLOYER, A.UNISWAP_V3_FACTORY_OWNER):
            self.rpc("anvil_stopImpersonatingAccount", who)

    def _place_tokens(self) -> None:
        self.place(A.TOKENS["WETH"].address, _npm_bytecode("WETH9"))
        for symbol in ("USDC", "USDT", "DAI", "WBTC"):
            tok = A.TOKENS[symbol]
            source, name = TOKEN_ARTIFACTS["tether" if symbol == "USDT" else "standard"]
            args = encode(
                ["string", "string", "uint8", "address"], [tok.name, tok.symbol, tok.decimals, DEPLOYER]
            )
            self.place(tok.address, _forge_bytecode(source, name) + args.hex())

    def _place_v3(self) -> None:
        weth = A.TOKENS["WETH"].address
        # The factory's owner is msg.sender of its constructor: deploy it from mainnet's owner address.
        self.place(A.UNISWAP_V3_FACTORY, _npm_bytecode("V3Factory"), sender=A.UNISWAP_V3_FACTORY_OWNER)
        self.send(
            A.UNISWAP_V3_FACTORY_OWNER,
            A.UNISWAP_V3_FACTORY,
            calldata("enableFeeAmount(uint24,int24)", 100, 1),
        )
        pair = encode(["address", "address"], [A.UNISWAP_V3_FACTORY, weth]).hex()
        self.place(A.UNISWAP_V3_SWAP_ROUTER, _npm_bytecode("SwapRouter") + pair)
        self.place(A.UNISWAP_V3_QUOTER_V2, _npm_bytecode("QuoterV2") + pair)
        nft_lib = self.deploy(_npm_bytecode("NFTDescriptor"))
        descriptor_code = _link(_npm_bytecode("Descriptor"), ARTIFACTS["Descriptor"], nft_lib)
        label = b"ETH".ljust(32, b"\0")
        descriptor = self.deploy(descriptor_code + encode(["address", "bytes32"], [weth, label]).hex())
        npm_args = encode(["address", "address", "address"], [A.UNISWAP_V3_FACTORY, weth, descriptor]).hex()
        self.place(A.UNISWAP_V3_POSITION_MANAGER, _npm_bytecode("NPM") + npm_args)
        r02_args = encode(
            ["address", "address", "address", "address"],
            [A.UNISWAP_V2_FACTORY, A.UNISWAP_V3_FACTORY, A.UNISWAP_V3_POSITION_MANAGER, weth],
        ).hex()
        self.place(A.UNISWAP_V3_SWAP_ROUTER02, _npm_bytecode("SwapRouter02") + r02_args)

    def _fund_deployer(self) -> None:
        need: dict[str, float] = {}
        for m in MARKETS:
            usd = m.v2_depth_usd + m.v3_depth_usd * len(m.v3_fees)
            for sym in (m.token_a, m.token_b):
                need[sym] = need.get(sym, 0.0) + usd / 2 / USD_PRICE[sym] * 1.1
        for sym, amount in need.items():
            raw = int(amount * 10 ** A.TOKENS[sym].decimals)
            if sym == "WETH":
                self.send(DEPLOYER, A.TOKENS["WETH"].address, calldata("deposit()"), value=raw)
            else:
                self.send(DEPLOYER, A.TOKENS[sym].address, calldata("mint(address,uint256)", DEPLOYER, raw))
            self.send(
                DEPLOYER,
                A.TOKENS[sym].address,
                calldata("approve(address,uint256)", A.UNISWAP_V3_POSITION_MANAGER, 2**256 - 1),
            )

    def _seed_market(self, m: MarketSpec) -> None:
        t0, t1 = sorted_pair(m.token_a, m.token_b)
        # price of token0 in token1, raw units
        price = USD_PRICE[t0.symbol] / USD_PRICE[t1.symbol] * 10 ** (t1.decimals - t0.decimals)
        half = m.v2_depth_usd / 2
        self.send(
            DEPLOYER, A.UNISWAP_V2_FACTORY, calldata("createPair(address,address)", t0.address, t1.address)
        )
        pair = v2_pair_address(t0.address, t1.address)
        for tok in (t0, t1):
            raw = int(half / USD_PRICE[tok.symbol] * 10**tok.decimals)
            self.send(DEPLOYER, tok.address, calldata("transfer(address,uint256)", pair, raw))
        self.send(DEPLOYER, pair, calldata("mint(address)", DEPLOYER))
        for fee in m.v3_fees:
            self._seed_v3_pool(t0, t1, fee, price, m.v3_depth_usd)

    def _seed_v3_pool(self, t0: A.Token, t1: A.Token, fee: int, price: float, depth_usd: float) -> None:
        spacing = A.V3_FEE_TICK_SPACING[fee]
        sqrt_price_x96 = int(math.sqrt(price) * 2**96)
        self.send(
            DEPLOYER,
            A.UNISWAP_V3_POSITION_MANAGER,
            calldata(
                "createAndInitializePoolIfNecessary(address,address,uint24,uint160)",
                t0.address,
                t1.address,
                fee,
                sqrt_price_x96,
            ),
        )
        tick = math.floor(math.log(price, 1.0001))
        # Stable pairs concentrate within ~1%; volatile ones spread to ~±30%.
        max_half_width_ticks = 100 if USD_PRICE[t0.symbol] == USD_PRICE[t1.symbol] else 3000
        max_w = max(1, max_half_width_ticks // spacing)
        value_in_token1 = depth_usd / V3_POSITIONS_PER_POOL / USD_PRICE[t1.symbol] * 10**t1.decimals
        for _ in range(V3_POSITIONS_PER_POOL):
            width = max(1, round(math.exp(self.rng.uniform(0, math.log(max_w)))))
            offset = self.rng.randint(-width, width)
            center = (tick // spacing + offset) * spacing
            lower, upper = center - width * spacing, center + width * spacing
            amount0, amount1 = _amounts_for_value(price, lower, upper, value_in_token1)
            params = (t0.address, t1.address, fee, lower, upper, amount0, amount1, 0, 0, DEPLOYER, 2**64)
            self.send(
                DEPLOYER,
                A.UNISWAP_V3_POSITION_MANAGER,
                calldata(
                    "mint((address,address,uint24,int24,int24,uint256,uint256,uint256,uint256,address,uint256))",
                    params,
                ),
            )

    def _fund_dev_accounts(self) -> None:
        weth = A.TOKENS["WETH"].address
        for account in self.dev_accounts:
            for sym, amount in DEV_ACCOUNT_FUNDING.items():
                raw = amount * 10 ** A.TOKENS[sym].decimals
                self.send(DEPLOYER, A.TOKENS[sym].address, calldata("mint(address,uint256)", account, raw))
            self.send(account, weth, calldata("deposit()"), value=DEV_ACCOUNT_WETH * 10**18)


def _amounts_for_value(price: float, lower: int, upper: int, value_in_token1: float) -> tuple[int, int]:
    """Token amounts (raw) for a position worth `value_in_token1`; NPM mints the liquidity both allow."""
    sp, sa, sb = math.sqrt(price), 1.0001 ** (lower / 2), 1.0001 ** (upper / 2)
    if sp <= sa:
        per_l0, per_l1 = 1 / sa - 1 / sb, 0.0
    elif sp >= sb:
        per_l0, per_l1 = 0.0, sb - sa
    else:
        per_l0, per_l1 = 1 / sp - 1 / sb, sp - sa
    liquidity = value_in_token1 / (per_l0 * price + per_l1)
    return int(liquidity * per_l0 * 1.0001) + 1, int(liquidity * per_l1 * 1.0001) + 1


def _link(code_hex: str, artifact_rel: str, library: str) -> str:
    """Write the library address at every linkReferences offset (the only linking the replica needs)."""
    data = json.loads(npm_artifact(artifact_rel).read_text())
    code = code_hex
    for libs in data["linkReferences"].values():
        for refs in libs.values():
            for ref in refs:
                start, length = 2 * ref["start"], 2 * ref["length"]
                code = code[:start] + library[2:].lower().rjust(length, "0") + code[start + length :]
    return code


def build_replica(
    url: str, dev_accounts: Sequence[str], progress: Callable[[str], None] | None = None
) -> None:
    ReplicaBuilder(url, dev_accounts, progress).build()


def replica_present(url: str) -> bool:
    """Cheap check that a node holds the replica (used after restoring a cache)."""
    code = rpc_call(url, "eth_getCode", [A.UNISWAP_V3_POSITION_MANAGER, "latest"])
    return isinstance(code, str) and len(code) > 2
