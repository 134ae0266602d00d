"""What the replica parity suites share: the printed seed, raw JSON-RPC batches in which a revert is an
outcome rather than an error, funding a trader, random sizes, and QuoterV2's way of counting ticks.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.rpc import JsonRpc
from defibots.devnet import replica as rep
from defibots.devnet.pool_factory import DevnetPoolFactory, Tx

SEED_ENV = "DEFIBOTS_PARITY_SEED"
CALL_GAS = 1_000_000_000
"""eth_call gas: a V3 swap that runs out of liquidity in a spacing-1 pool walks ~3,500 bitmap words and
needs more than a 30M block's gas; anvil accepts a larger gas on eth_call."""
TX_GAS = 29_000_000
DEADLINE = 2**40
TRADER_TOKENS = 2**120
"""Each token the trader holds: more than any pool, below what would overflow a V2 pair's uint112."""
ERROR_STRING = "0x08c379a0"


@cache
def parity_seed() -> int:
    """One seed per session, from DEFIBOTS_PARITY_SEED or fresh; printed by every test that uses it."""
    env = os.environ.get(SEED_ENV)
    return int(env) if env else random.SystemRandom().randrange(2**32)


def seeded_rng(label: str) -> random.Random:
    """A generator per test, derived from the session seed, so tests do not shift each other's draws."""
    seed = parity_seed()
    print(f"parity seed {seed}")
    return random.Random(f"{seed}:{label}")


@dataclass(frozen=True)
class Reverted:
    """A call that reverted: the Error(string) text, '' for a bare revert or invalid opcode, else the
    raw revert data (a custom error)."""

    reason: str


class RawRpc:
    """Every reply as-is (result or error): parity checks need each revert with its data."""

    def __init__(self, url: str) -> None:
        self._rpc = JsonRpc(url, timeout=120)

    def batch(self, calls: Sequence[tuple[str, list[Any]]], chunk: int = 100) -> list[dict[str, Any]]:
        return list(self._rpc.batch_replies(calls, chunk))

    def close(self) -> None:
        return None


def eth_call(to: str, data: str, sender: str | None = None) -> tuple[str, list[Any]]:
    tx: dict[str, Any] = {"to": to, "data": data, "gas": hex(CALL_GAS)}
    if sender is not None:
        tx["from"] = sender
    return "eth_call", [tx, "latest"]


def call_outcome(reply: dict[str, Any], types: Sequence[str]) -> tuple[Any, ...] | Reverted:
    """The decoded return values, or Reverted; any other failure (out of gas, node error) raises."""
    if "error" not in reply:
        return tuple(decode(list(types), bytes.fromhex(reply["result"][2:])))
    error = reply["error"]
    data = error.get("data")
    message = str(error.get("message", ""))
    if isinstance(data, str) and data.startswith(ERROR_STRING):
        (reason,) = decode(["string"], bytes.fromhex(data[len(ERROR_STRING) :]))
        return Reverted(str(reason))
    if "InvalidFEOpcode" in message:
        return Reverted("")  # Solidity < 0.8 division by zero
    if error.get("code") == 3 or message.startswith("execution reverted"):
        return Reverted("" if data in (None, "0x") else str(data))
    raise RuntimeError(f"eth_call failed for a reason other than a revert: {error}")


def log_uniform(rng: random.Random, high: int) -> int:
    """An integer in [1, high], uniform in its logarithm: every order of magnitude equally often."""
    return max(1, min(high, int(math.exp(rng.uniform(0.0, math.log(high))))))


def fund_trader(rpc: JsonRpc, trader: str, symbols: Sequence[str] = ("USDC", "USDT", "DAI", "WBTC")) -> None:
    """Mint TRADER_TOKENS of each replica token to `trader` (as the tokens' minter) and wrap as much ETH."""
    rpc.call("anvil_impersonateAccount", rep.DEPLOYER)
    try:
        DevnetPoolFactory(rpc, rep.DEPLOYER).mint_tokens(
            [A.TOKENS[s].address for s in symbols], trader, TRADER_TOKENS
        )
    finally:
        rpc.call("anvil_stopImpersonatingAccount", rep.DEPLOYER)
    rpc.call("anvil_setBalance", trader, hex(2 * TRADER_TOKENS))
    DevnetPoolFactory(rpc, trader).send(
        A.TOKENS["WETH"].address, calldata("deposit()"), 100_000, TRADER_TOKENS
    )


def approve_all(
    factory: DevnetPoolFactory, spenders: Sequence[str], extra_tokens: Sequence[str] = ()
) -> None:
    """Max approvals from the factory's sender for every replica token (and `extra_tokens`)."""
    tokens = [t.address for t in A.TOKENS.values()] + list(extra_tokens)
    factory.send_all(
        [
            Tx(token, calldata("approve(address,uint256)", spender, 2**256 - 1), 100_000)
            for token in tokens
            for spender in spenders
        ]
    )


def balance_call(token: str, owner: str) -> tuple[str, list[Any]]:
    return eth_call(token, calldata("balanceOf(address)", owner))


def quoter_ticks_crossed(bitmap: Mapping[int, int], spacing: int, tick_before: int, tick_after: int) -> int:
    """QuoterV2's initializedTicksCrossed (PoolTicksCounter.countInitializedTicksCrossed) for a swap from
    `tick_before` to `tick_after`: the initialized bits between the two ticks' bitmap positions, both
    ends included, minus the end tick when the swap stopped on it going down and the start tick when it
    started on it going up. Its own definition (Solidity's truncating division included), not the
    number of ticks the pool crossed.
    """

    def position(tick: int) -> tuple[int, int]:
        compressed = abs(tick) // spacing * (1 if tick >= 0 else -1)
        return compressed >> 8, compressed & 0xFF

    def is_set(word: int, bit: int) -> bool:
        return bool(bitmap.get(word, 0) >> bit & 1)

    word_before, bit_before = position(tick_before)
    word_after, bit_after = position(tick_after)
    after_counted = is_set(word_after, bit_after) and tick_after % spacing == 0 and tick_before > tick_after
    before_counted = (
        is_set(word_before, bit_before) and tick_before % spacing == 0 and tick_before < tick_after
    )
    (word_low, bit_low), (word_high, bit_high) = sorted([(word_before, bit_before), (word_after, bit_after)])
    full = (1 << 256) - 1
    mask = (full << bit_low) & full
    count = 0
    while word_low <= word_high:
        if word_low == word_high:
            mask &= full >> (255 - bit_high)
        count += (bitmap.get(word_low, 0) & mask).bit_count()
        word_low += 1
        mask = full
    return count - after_counted - before_counted
