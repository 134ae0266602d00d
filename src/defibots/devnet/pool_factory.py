"""Uniswap V3 pools with many initialized ticks on a devnet, made through the real position manager.

Parity tests need pools whose bitmaps hold hundreds of ticks, negative ticks and ticks on bitmap word
edges; the pool-loading bench needs a hundred pools. Transactions go from an unlocked dev account (anvil
signs them) with explicit nonces, gas and fees, in JSON-RPC batches mined together, so hundreds of mints
take seconds rather than minutes.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_utils import to_checksum_address

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.pool_address import v3_pool_address
from defibots.chain.rpc import JsonRpc
from defibots.paths import forge_artifact
from defibots.protocols.uniswap_v3 import (
    MAX_TICK,
    MIN_TICK,
    get_amount0_delta,
    get_amount1_delta,
    get_sqrt_ratio_at_tick,
)

MAX_UINT256 = 2**256 - 1
DEADLINE = 2**40
MINT_GAS = 1_000_000
"""NonfungiblePositionManager.mint of a new NFT that initializes both ticks costs ~500k."""
CREATE_POOL_GAS = 6_000_000
PRIORITY_FEE = 10**9
_MINT_SIGNATURE = "mint((address,address,uint24,int24,int24,uint256,uint256,uint256,uint256,address,uint256))"


class DevnetTxFailed(RuntimeError):
    """A transaction the factory sent reverted or was never mined."""


@dataclass(frozen=True)
class Tx:
    """A transaction for the sender to send; `to=None` deploys `data`."""

    to: str | None
    data: str
    gas: int
    value: int = 0


@dataclass(frozen=True)
class PositionSpec:
    """A position to mint: ticks are multiples of the pool's spacing; liquidity is approximate (the
    manager derives it from token amounts, rounding down by at most a few units)."""

    tick_lower: int
    tick_upper: int
    liquidity: int


@dataclass(frozen=True)
class CreatedPool:
    """A V3 pool the factory created or will add positions to (address from CREATE2)."""

    address: str
    token0: str
    token1: str
    fee: int
    tick_spacing: int


def sort_tokens(token_a: str, token_b: str) -> tuple[str, str]:
    a, b = to_checksum_address(token_a), to_checksum_address(token_b)
    return (a, b) if int(a, 16) < int(b, 16) else (b, a)


class DevnetPoolFactory:
    """Tokens, pools and positions on a devnet, sent from `sender`: an account the node signs for (a dev
    account or an impersonated one). Devnet only: it relies on anvil signing, `evm_setAutomine` and
    `evm_mine`."""

    def __init__(self, rpc: JsonRpc, sender: str, batch_size: int = 250) -> None:
        self.rpc = rpc
        self.sender = to_checksum_address(sender)
        self.batch_size = batch_size

    # -- transactions ----------------------------------------------------------------------------

    def send_all(self, txs: Sequence[Tx], timeout_s: float = 120.0) -> list[dict[str, Any]]:
        """Send in order (explicit nonces), wait for every receipt; any revert raises DevnetTxFailed.

        Several transactions go out in JSON-RPC batches, which anvil handles concurrently: with automine
        on, a transaction whose lower-nonce sibling had not arrived yet can be left behind for good. So
        automine is paused while a batch is sent and blocks are mined on request until all are in.
        """
        if not txs:
            return []
        latest = self.rpc.call("eth_getBlockByNumber", "latest", False)
        # Full blocks raise the base fee 12.5% each: cap the fee above what the whole run can reach.
        blocks = sum(tx.gas for tx in txs) // int(latest["gasLimit"], 16) + 2
        max_fee = int(latest.get("baseFeePerGas") or "0x0", 16) * 9**blocks // 8**blocks + 2 * PRIORITY_FEE
        automine = len(txs) > 1 and bool(self.rpc.call("anvil_getAutomine"))
        if automine:
            self.rpc.call("evm_setAutomine", False)
        try:
            nonce = int(self.rpc.call("eth_getTransactionCount", self.sender, "pending"), 16)
            hashes: list[str] = []
            for start in range(0, len(txs), self.batch_size):
                chunk = txs[start : start + self.batch_size]
                sends = [
                    ("eth_sendTransaction", [self._tx(tx, nonce + start + i, max_fee)])
                    for i, tx in enumerate(chunk)
                ]
                hashes += [str(h) for h in self.rpc.batch(sends)]
            receipts = self.wait(hashes, timeout_s, mine=automine)
        finally:
            if automine:
                self.rpc.call("evm_setAutomine", True)
        for tx, receipt in zip(txs, receipts, strict=True):
            if int(receipt["status"], 16) != 1:
                raise DevnetTxFailed(f"transaction {receipt['transactionHash']} to {tx.to} reverted")
        return receipts

    def send(self, to: str | None, data: str, gas: int, value: int = 0) -> dict[str, Any]:
        return self.send_all([Tx(to, data, gas, value)])[0]

    def _tx(self, tx: Tx, nonce: int, max_fee: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from": self.sender,
            "data": tx.data,
            "gas": hex(tx.gas),
            "value": hex(tx.value),
            "nonce": hex(nonce),
            "maxFeePerGas": hex(max_fee),
            "maxPriorityFeePerGas": hex(PRIORITY_FEE),
        }
        if tx.to is not None:
            out["to"] = tx.to
        return out

    def wait(
        self, hashes: Sequence[str], timeout_s: float = 120.0, mine: bool = False
    ) -> list[dict[str, Any]]:
        """Receipts in the order given. With `mine`, mine a block per round (automine is paused);
        otherwise poll, since automine answers a send before its block exists."""
        deadline = time.monotonic() + timeout_s
        found: dict[str, dict[str, Any]] = {}
        while True:
            missing = [h for h in hashes if h not in found]
            if not missing:
                return [found[h] for h in hashes]
            if time.monotonic() > deadline:
                raise DevnetTxFailed(
                    f"{len(missing)} of {len(hashes)} transactions not mined in {timeout_s:g}s "
                    f"(first {missing[0]}; pool {self.rpc.call('txpool_status')})"
                )
            if mine:
                self.rpc.call("evm_mine")
            replies = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in missing])
            found.update({h: r for h, r in zip(missing, replies, strict=True) if r is not None})
            if not mine and len(found) < len(hashes):
                time.sleep(0.005)

    # -- tokens ----------------------------------------------------------------------------------

    def deploy_tokens(self, specs: Sequence[tuple[str, str, int]]) -> list[str]:
        """ReplicaTokens (name, symbol, decimals) whose minter is the sender."""
        artifact = json.loads(forge_artifact("ReplicaToken.sol", "ReplicaToken").read_text())
        code = str(artifact["bytecode"]["object"])
        txs = [
            Tx(
                None,
                code + encode(["string", "string", "uint8", "address"], [n, s, d, self.sender]).hex(),
                3_000_000,
            )
            for n, s, d in specs
        ]
        return [to_checksum_address(r["contractAddress"]) for r in self.send_all(txs)]

    def mint_tokens(self, tokens: Sequence[str], to: str, amount: int) -> None:
        """ReplicaToken.mint from the sender, who must be the tokens' minter."""
        self.send_all([Tx(t, calldata("mint(address,uint256)", to, amount), 100_000) for t in tokens])

    def approve(self, tokens: Sequence[str], spender: str, amount: int = MAX_UINT256) -> None:
        self.send_all([Tx(t, calldata("approve(address,uint256)", spender, amount), 100_000) for t in tokens])

    def balance_of(self, token: str, owner: str) -> int:
        raw = self.rpc.call(
            "eth_call", {"to": token, "data": calldata("balanceOf(address)", owner)}, "latest"
        )
        return int(raw, 16)

    # -- pools -----------------------------------------------------------------------------------

    def create_pools(self, specs: Sequence[tuple[str, str, int, int]]) -> list[CreatedPool]:
        """(token_a, token_b, fee, sqrt_price_x96 of token0 in token1) -> initialized pools."""
        pools: list[CreatedPool] = []
        txs: list[Tx] = []
        sig = "createAndInitializePoolIfNecessary(address,address,uint24,uint160)"
        for token_a, token_b, fee, sqrt_price in specs:
            token0, token1 = sort_tokens(token_a, token_b)
            spacing = A.V3_FEE_TICK_SPACING[fee]
            pools.append(CreatedPool(v3_pool_address(token0, token1, fee), token0, token1, fee, spacing))
            txs.append(
                Tx(
                    A.UNISWAP_V3_POSITION_MANAGER,
                    calldata(sig, token0, token1, fee, sqrt_price),
                    CREATE_POOL_GAS,
                )
            )
        self.send_all(txs)
        return pools

    def slot0(self, pool: str) -> tuple[int, int]:
        """(sqrtPriceX96, tick)."""
        raw = self.rpc.call("eth_call", {"to": pool, "data": calldata("slot0()")}, "latest")
        sqrt_price, tick = decode(["uint160", "int24"], bytes.fromhex(raw[2:130]))
        return int(sqrt_price), int(tick)

    def add_positions(self, pool: CreatedPool, positions: Sequence[PositionSpec]) -> list[dict[str, Any]]:
        """Mint each position through the manager; see `add_positions_many`."""
        return self.add_positions_many([(pool, positions)])

    def add_positions_many(
        self, plan: Sequence[tuple[CreatedPool, Sequence[PositionSpec]]]
    ) -> list[dict[str, Any]]:
        """Mint positions in several pools, paying the token amounts each position's liquidity needs at
        its pool's current price (the sender must hold the tokens and have approved the manager)."""
        slots = self.rpc.batch(
            [("eth_call", [{"to": pool.address, "data": calldata("slot0()")}, "latest"]) for pool, _ in plan]
        )
        txs = []
        for (pool, positions), raw in zip(plan, slots, strict=True):
            sqrt_price = int(raw[2:66], 16)
            for p in positions:
                amount0, amount1 = amounts_for_liquidity(sqrt_price, p.tick_lower, p.tick_upper, p.liquidity)
                params = (pool.token0, pool.token1, pool.fee, p.tick_lower, p.tick_upper,
                          amount0, amount1, 0, 0, self.sender, DEADLINE)  # fmt: skip
                txs.append(Tx(A.UNISWAP_V3_POSITION_MANAGER, calldata(_MINT_SIGNATURE, params), MINT_GAS))
        return self.send_all(txs)


def amounts_for_liquidity(
    sqrt_price_x96: int, tick_lower: int, tick_upper: int, liquidity: int
) -> tuple[int, int]:
    """Token amounts (rounded up) a position of `liquidity` on [lower, upper) holds at the given price."""
    sqrt_lower, sqrt_upper = get_sqrt_ratio_at_tick(tick_lower), get_sqrt_ratio_at_tick(tick_upper)
    if sqrt_price_x96 <= sqrt_lower:
        return get_amount0_delta(sqrt_lower, sqrt_upper, liquidity, True), 0
    if sqrt_price_x96 >= sqrt_upper:
        return 0, get_amount1_delta(sqrt_lower, sqrt_upper, liquidity, True)
    return (
        get_amount0_delta(sqrt_price_x96, sqrt_upper, liquidity, True),
        get_amount1_delta(sqrt_lower, sqrt_price_x96, liquidity, True),
    )


def random_positions(
    rng: random.Random,
    tick: int,
    spacing: int,
    count: int,
    liquidity: tuple[int, int],
    half_width_ticks: int,
    edge_share: float = 0.25,
) -> list[PositionSpec]:
    """`count` positions around `tick`: widths log-uniform up to `half_width_ticks`, liquidity
    log-uniform in [lo, hi], and about `edge_share` of them with an end exactly on a bitmap word edge
    (a multiple of 256 * spacing) or one spacing below it, the ticks where bitmap walks change words."""
    usable_min = -(-MIN_TICK // spacing) * spacing
    usable_max = MAX_TICK // spacing * spacing
    word = 256 * spacing
    max_units = max(1, half_width_ticks // spacing)
    lo_l, hi_l = math.log(liquidity[0]), math.log(liquidity[1])
    out: list[PositionSpec] = []
    while len(out) < count:
        width = max(1, round(math.exp(rng.uniform(0, math.log(max_units))))) * spacing
        center = (tick + rng.randint(-half_width_ticks, half_width_ticks)) // spacing * spacing
        lower, upper = center - width, center + width
        if rng.random() < edge_share:
            edge = (center // word + rng.randint(-1, 1)) * word - rng.choice((0, spacing))
            if rng.random() < 0.5:
                lower = edge
                upper = max(upper, lower + spacing)
            else:
                upper = edge
                lower = min(lower, upper - spacing)
        lower, upper = max(lower, usable_min), min(upper, usable_max)
        if lower >= upper:
            continue
        out.append(PositionSpec(lower, upper, int(math.exp(rng.uniform(lo_l, hi_l)))))
    return out
