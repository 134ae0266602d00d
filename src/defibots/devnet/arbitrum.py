"""The Arbitrum replica: WETH, native USDC, WBTC and Uniswap V3 at Arbitrum One's addresses on anvil.

It runs under chain id 31338 (`ARBITRUM_DEVNET`), never 42161, so nothing signed on it is valid on
Arbitrum. Built like the mainnet replica (the same placing, funding and V3 seeding code, from the same npm
bytecode), then cached as its own anvil state dump keyed by everything that went into it.

GMX V2 lives here too: the build's last step places the GMX stand-in (contracts-gmx/, see gmx_standin.py)
at the addresses `@gmx-io/sdk` lists for Arbitrum One.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_abi import encode
from eth_typing import ChecksumAddress

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.gmx import keys as gmx_keys
from defibots.chain.pool_address import v3_pool_address
from defibots.devnet import gmx_markets, gmx_standin, replica
from defibots.devnet.replica import DEPLOYER, ReplicaBuilder
from defibots.foundry.anvil import rpc_call
from defibots.paths import npm_artifact, state_dir

ARBITRUM_REPLICA_VERSION = "arbitrum-replica-1"
BOOK = A.ARBITRUM_BOOK
CHAIN_ID = A.ARBITRUM_DEVNET

SWAP_ROUTER02_FACTORY_V2 = A.UNISWAP_V2_FACTORY
"""What Arbitrum One's SwapRouter02 was constructed with as `factoryV2`: mainnet's V2 factory address (no
code on Arbitrum; Uniswap/docs#666), not the later Arbitrum V2 deployment in the book."""

ARTIFACT_NAMES = ("WETH9", "V3Factory", "SwapRouter", "QuoterV2", "NPM", "Descriptor", "NFTDescriptor",
                  "SwapRouter02")  # fmt: skip
"""The npm artifacts (keys of `replica.ARTIFACTS`) this replica places."""


@dataclass(frozen=True)
class V3Market:
    """One seeded pair: V3 pools at the given fee tiers, each `depth_usd` deep."""

    token_a: str
    token_b: str
    fees: tuple[int, ...]
    depth_usd: float


MARKETS: tuple[V3Market, ...] = (
    V3Market("WETH", "USDC", (500, 3000), 20e6),
    V3Market("WBTC", "USDC", (500, 3000), 8e6),
    V3Market("WBTC", "WETH", (500, 3000), 10e6),
)


@dataclass(frozen=True)
class SeededV3Pool:
    """Where a seeded pool lives: the CREATE2 address Arbitrum One has for the same tokens and fee."""

    token0: str
    token1: str
    fee: int
    address: ChecksumAddress


def sorted_pair(sym_a: str, sym_b: str) -> tuple[A.Token, A.Token]:
    a, b = BOOK.token(sym_a), BOOK.token(sym_b)
    return (a, b) if int(a.address, 16) < int(b.address, 16) else (b, a)


def seeded_pools() -> list[SeededV3Pool]:
    """Every pool the Arbitrum replica seeds, with its address computed off-chain."""
    pools = []
    for m in MARKETS:
        t0, t1 = sorted_pair(m.token_a, m.token_b)
        for fee in m.fees:
            address = v3_pool_address(t0.address, t1.address, fee, factory=BOOK.v3_factory)
            pools.append(SeededV3Pool(t0.symbol, t1.symbol, fee, address))
    return pools


# --- building and caching ---------------------------------------------------------------------------


class ArbitrumReplicaBuilder(ReplicaBuilder):
    """Deploys and seeds the Arbitrum replica on an empty anvil at `url` (automine on, chain id 31338).

    Reuses the mainnet builder's placing and V3 seeding: Uniswap's NonfungiblePositionManager, which that
    seeding calls, is at the same address on both chains (checked by the tests against the book).
    """

    def build(self) -> None:
        owner = A.ARBITRUM_UNISWAP_V3_FACTORY_OWNER
        for who in (DEPLOYER, owner):
            self.rpc("anvil_impersonateAccount", who)
            self.rpc("anvil_setBalance", who, hex(10**30))
        self.progress("tokens")
        self._place_tokens()
        self.progress("uniswap v3")
        self._place_v3()
        self.check_receipts()
        self.progress("markets")
        self._fund_deployer()
        for market in MARKETS:
            t0, t1 = sorted_pair(market.token_a, market.token_b)
            price = (
                replica.USD_PRICE[t0.symbol]
                / replica.USD_PRICE[t1.symbol]
                * 10 ** (t1.decimals - t0.decimals)
            )
            for fee in market.fees:
                self._seed_v3_pool(t0, t1, fee, price, market.depth_usd)
            self.check_receipts()
        self.progress("dev accounts")
        self._fund_dev_accounts()
        self.check_receipts()
        self.progress("gmx")
        gmx_standin.place_gmx(self, DEPLOYER)
        for who in (DEPLOYER, owner):
            self.rpc("anvil_stopImpersonatingAccount", who)

    def _place_tokens(self) -> None:
        self.place(BOOK.token("WETH").address, replica._npm_bytecode("WETH9"))
        source, name = replica.TOKEN_ARTIFACTS["standard"]
        for tok in BOOK.tokens.values():
            if tok.symbol == "WETH":
                continue
            args = encode(
                ["string", "string", "uint8", "address"], [tok.name, tok.symbol, tok.decimals, DEPLOYER]
            )
            self.place(tok.address, replica._forge_bytecode(source, name) + args.hex())

    def _place_v3(self) -> None:
        weth, factory, npm = BOOK.token("WETH").address, BOOK.v3_factory, BOOK.v3_position_manager
        owner = A.ARBITRUM_UNISWAP_V3_FACTORY_OWNER
        self.place(factory, replica._npm_bytecode("V3Factory"), sender=owner)  # owner = constructor's caller
        self.send(owner, factory, calldata("enableFeeAmount(uint24,int24)", 100, 1))
        pair = encode(["address", "address"], [factory, weth]).hex()
        self.place(BOOK.v3_swap_router, replica._npm_bytecode("SwapRouter") + pair)
        self.place(BOOK.v3_quoter_v2, replica._npm_bytecode("QuoterV2") + pair)
        nft_lib = self.deploy(replica._npm_bytecode("NFTDescriptor"))
        descriptor_code = replica._link(
            replica._npm_bytecode("Descriptor"), replica.ARTIFACTS["Descriptor"], nft_lib
        )
        label = b"ETH".ljust(32, b"\0")
        descriptor = self.deploy(descriptor_code + encode(["address", "bytes32"], [weth, label]).hex())
        npm_args = encode(["address", "address", "address"], [factory, weth, descriptor]).hex()
        self.place(npm, replica._npm_bytecode("NPM") + npm_args)
        r02_args = encode(
            ["address", "address", "address", "address"], [SWAP_ROUTER02_FACTORY_V2, factory, npm, weth]
        ).hex()
        self.place(BOOK.v3_swap_router02, replica._npm_bytecode("SwapRouter02") + r02_args)

    def _fund_deployer(self) -> None:
        need: dict[str, float] = {}
        for m in MARKETS:
            for sym in (m.token_a, m.token_b):
                usd = m.depth_usd * len(m.fees) / 2
                need[sym] = need.get(sym, 0.0) + usd / replica.USD_PRICE[sym] * 1.1
        for sym, amount in need.items():
            tok = BOOK.token(sym)
            raw = int(amount * 10**tok.decimals)
            if sym == "WETH":
                self.send(DEPLOYER, tok.address, calldata("deposit()"), value=raw)
            else:
                self.send(DEPLOYER, tok.address, calldata("mint(address,uint256)", DEPLOYER, raw))
            self.send(
                DEPLOYER,
                tok.address,
                calldata("approve(address,uint256)", BOOK.v3_position_manager, 2**256 - 1),
            )

    def _fund_dev_accounts(self) -> None:
        weth = BOOK.token("WETH").address
        for account in self.dev_accounts:
            for sym, amount in replica.DEV_ACCOUNT_FUNDING.items():
                if sym not in BOOK.tokens:
                    continue
                tok = BOOK.tokens[sym]
                raw = amount * 10**tok.decimals
                self.send(DEPLOYER, tok.address, calldata("mint(address,uint256)", account, raw))
            self.send(account, weth, calldata("deposit()"), value=replica.DEV_ACCOUNT_WETH * 10**18)


def cache_key() -> str:
    """Hash of everything that shapes this replica: both builder modules, artifacts, book, markets, GMX."""
    h = hashlib.sha256(ARBITRUM_REPLICA_VERSION.encode())
    h.update(Path(__file__).read_bytes())
    h.update(Path(replica.__file__).read_bytes())  # the placing and seeding code it reuses
    h.update(repr((BOOK, A.ARBITRUM_UNISWAP_V3_FACTORY_OWNER, CHAIN_ID)).encode())
    for name in ARTIFACT_NAMES:
        h.update(npm_artifact(replica.ARTIFACTS[name]).read_bytes())
    h.update(json.dumps(replica._forge_bytecode(*replica.TOKEN_ARTIFACTS["standard"])).encode())
    anvil_pkg = npm_artifact("@foundry-rs/anvil-linux-amd64/package.json")
    h.update(json.loads(anvil_pkg.read_text())["version"].encode())
    h.update(npm_artifact("@gmx-io/sdk/package.json").read_bytes())
    for module in (gmx_standin, gmx_keys, gmx_markets):
        h.update(Path(str(module.__file__)).read_bytes())
    h.update(gmx_markets.MARKETS_FILE.read_bytes())
    for artifact in gmx_standin.artifact_paths():
        h.update(artifact.read_bytes())
    return h.hexdigest()[:16]


def cache_path(key: str | None = None) -> Path:
    return state_dir() / f"arbitrum-replica-{key or cache_key()}.json"


def build_replica(
    url: str, dev_accounts: Sequence[str], progress: Callable[[str], None] | None = None
) -> None:
    ArbitrumReplicaBuilder(url, dev_accounts, progress).build()


def replica_present(url: str) -> bool:
    """Cheap check that a node holds this replica, not the mainnet one: code at Arbitrum's USDC and NPM."""
    for address in (BOOK.token("USDC").address, BOOK.v3_position_manager):
        code = rpc_call(url, "eth_getCode", [address, "latest"])
        if not (isinstance(code, str) and len(code) > 2):
            return False
    return True
