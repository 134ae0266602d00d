"""UniswapV2Pair model against Router02 on the devnet replica, to the wei.

Random quotes on the replica's six pairs (both directions, getAmountsOut and getAmountsIn, sizes from
0 and 1 wei to beyond the reserves and into uint256 overflow) must equal the router's answer or revert
with the router's reason; then a sequence of swaps executed through Router02 must move the trader's
balances and the pair's reserves exactly as the model says. Reproduce a run with
DEFIBOTS_PARITY_SEED=<printed seed>.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
from eth_abi import decode

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.pool_loader import load_v2_pairs, v2_from_snapshot
from defibots.chain.rpc import JsonRpc
from defibots.devnet import replica as rep
from defibots.devnet.node import Devnet
from defibots.devnet.pool_factory import DevnetPoolFactory, DevnetTxFailed
from defibots.protocols.uniswap_v2 import UniswapV2Pair, UniswapV2Revert, V2SwapResult

from .replica_swaps import (
    DEADLINE,
    TRADER_TOKENS,
    RawRpc,
    Reverted,
    approve_all,
    balance_call,
    call_outcome,
    eth_call,
    fund_trader,
    log_uniform,
    parity_seed,
    seeded_rng,
)

pytestmark = pytest.mark.devnet

QUOTES = 600
EXECUTED_SWAPS = 55
"""Swaps that must go through; reverting cases drawn on the way are compared by eth_call on top."""
SWAP_GAS = 300_000
EXACT_IN = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
EXACT_OUT = "swapTokensForExactTokens(uint256,uint256,address[],address,uint256)"


def load_pairs(url: str) -> list[UniswapV2Pair]:
    addresses = [p.address for p in rep.seeded_pools() if p.protocol == "v2"]
    return [v2_from_snapshot(s) for s in load_v2_pairs(JsonRpc(url), addresses)]


def random_amount(rng: random.Random, reserve_out: int, reserve_in: int, exact_in: bool, cap: int) -> int:
    """Log-uniform from 1 wei to 16x the reserve, plus the edges: 0, the output reserve and its
    neighbours (exact output), and amounts whose products overflow uint256."""
    roll = rng.random()
    if roll < 0.03:
        return 0
    if roll < 0.09 and not exact_in:
        return reserve_out + rng.choice((-1, 0, 1))
    if roll < 0.12:
        return min(cap, 1 << rng.randint(100, 255))
    return min(cap, log_uniform(rng, 16 * (reserve_in if exact_in else reserve_out)))


def expected_amounts(pair: UniswapV2Pair, token_in: str, exact_in: bool, amount: int) -> list[int] | Reverted:
    """Router02 getAmountsOut / getAmountsIn over the one pair: [amountIn, amountOut], or its revert."""
    try:
        if exact_in:
            return [amount, pair.get_amount_out(token_in, amount)]
        return [pair.get_amount_in(token_in, amount), amount]
    except UniswapV2Revert as revert:
        return Reverted(revert.reason)


def test_router_quotes_equal_the_model(devnet: Devnet) -> None:
    rng = seeded_rng("v2 quotes")
    pairs = load_pairs(devnet.http_url)
    cases: list[tuple[UniswapV2Pair, str, bool, int]] = []
    for _ in range(QUOTES):
        pair = rng.choice(pairs)
        token_in = rng.choice((pair.token0, pair.token1))
        exact_in = rng.random() < 0.5
        reserve_in, reserve_out = pair.reserves_for(token_in)
        cases.append(
            (pair, token_in, exact_in, random_amount(rng, reserve_out, reserve_in, exact_in, 2**256 - 1))
        )
    for pair in pairs:  # every edge on every pair, both directions, on top of the random draws
        for token_in in (pair.token0, pair.token1):
            reserve_out = pair.reserves_for(token_in)[1]
            cases += [(pair, token_in, True, amount) for amount in (0, 1, 2**255)]
            cases += [
                (pair, token_in, False, reserve_out + d) for d in (-reserve_out, 1 - reserve_out, -1, 0, 1)
            ]
    calls = []
    for pair, token_in, exact_in, amount in cases:
        token_out = pair.token1 if token_in == pair.token0 else pair.token0
        signature = "getAmountsOut(uint256,address[])" if exact_in else "getAmountsIn(uint256,address[])"
        calls.append(eth_call(A.UNISWAP_V2_ROUTER02, calldata(signature, amount, [token_in, token_out])))
    rpc = RawRpc(devnet.http_url)
    try:
        replies = rpc.batch(calls)
    finally:
        rpc.close()
    mismatches = []
    kinds: Counter[str] = Counter()
    for (pair, token_in, exact_in, amount), reply in zip(cases, replies, strict=True):
        chain = call_outcome(reply, ["uint256[]"])
        chain = chain if isinstance(chain, Reverted) else list(chain[0])
        want = expected_amounts(pair, token_in, exact_in, amount)
        if chain != want:
            mismatches.append((pair.address, token_in, exact_in, amount, chain, want))
        kinds[(want.reason or "invalid opcode") if isinstance(want, Reverted) else "quoted"] += 1
    assert not mismatches, f"seed {parity_seed()}: {len(mismatches)} mismatches, first {mismatches[:3]}"
    print(f"v2 quotes compared: {sum(kinds.values())} {dict(kinds)}")
    assert sum(kinds.values()) >= 500 and kinds["quoted"] >= 400
    for reason in (
        "UniswapV2Library: INSUFFICIENT_INPUT_AMOUNT",
        "UniswapV2Library: INSUFFICIENT_OUTPUT_AMOUNT",
        "ds-math-sub-underflow",
        "ds-math-mul-overflow",
        "invalid opcode",
    ):
        assert kinds[reason] >= 1, (reason, kinds)


def test_router_swaps_move_balances_and_reserves_as_modelled(devnet: Devnet) -> None:
    rng = seeded_rng("v2 swaps")
    rpc = JsonRpc(devnet.http_url)
    trader = devnet.accounts[0].address
    fund_trader(rpc, trader)
    factory = DevnetPoolFactory(rpc, trader)
    approve_all(factory, [A.UNISWAP_V2_ROUTER02])
    pairs = {p.address: p for p in load_pairs(devnet.http_url)}
    tokens = [t.address for t in A.TOKENS.values()]
    raw = RawRpc(devnet.http_url)
    balances = {
        t: int(r["result"], 16)
        for t, r in zip(tokens, raw.batch([balance_call(t, trader) for t in tokens]), strict=True)
    }
    executed = reverted = 0
    kinds: Counter[str] = Counter()
    try:
        step = 0
        while executed < EXECUTED_SWAPS:
            step += 1
            pair = pairs[rng.choice(sorted(pairs))]
            token_in = rng.choice((pair.token0, pair.token1))
            token_out = pair.token1 if token_in == pair.token0 else pair.token0
            exact_in = rng.random() < 0.5
            reserve_in, reserve_out = pair.reserves_for(token_in)
            amount = random_amount(rng, reserve_out, reserve_in, exact_in, TRADER_TOKENS // 4)
            if _input_needed(pair, token_in, exact_in, amount) > balances[token_in]:
                continue  # the token transfer would fail before the pair is reached: not a model case
            signature, limit = (EXACT_IN, 0) if exact_in else (EXACT_OUT, 2**256 - 1)
            data = calldata(signature, amount, limit, [token_in, token_out], trader, DEADLINE)
            want = _router_swap(pair, token_in, exact_in, amount)
            label = (
                f"seed {parity_seed()} swap {step}: {pair.address} {token_in} exact_in={exact_in} {amount}"
            )
            if isinstance(want, Reverted):
                reply = raw.batch([eth_call(A.UNISWAP_V2_ROUTER02, data, trader)])
                assert call_outcome(reply[0], ["uint256[]"]) == want, label
                reverted += 1
                kinds[want.reason or "invalid opcode"] += 1
                continue
            try:
                factory.send(A.UNISWAP_V2_ROUTER02, data, SWAP_GAS)
            except DevnetTxFailed as failed:
                raise AssertionError(f"{label}: the model swapped {want} but the router reverted") from failed
            balances[token_in] -= want.amount_in
            balances[token_out] += want.amount_out
            reads = raw.batch(
                [balance_call(token_in, trader), balance_call(token_out, trader),
                 eth_call(pair.address, calldata("getReserves()"))]
            )  # fmt: skip
            reserves = decode(["uint112", "uint112"], bytes.fromhex(reads[2]["result"][2:130]))
            assert [int(r["result"], 16) for r in reads[:2]] == [balances[token_in], balances[token_out]], (
                label
            )
            assert reserves == (want.pair_after.reserve0, want.pair_after.reserve1), label
            pairs[pair.address] = want.pair_after
            executed += 1
            kinds["swapped"] += 1
    finally:
        raw.close()
    fresh = {p.address: (p.reserve0, p.reserve1) for p in load_pairs(devnet.http_url)}
    assert fresh == {a: (p.reserve0, p.reserve1) for a, p in pairs.items()}, f"seed {parity_seed()}"
    print(f"v2 router swaps: {executed} executed, {reverted} reverts compared {dict(kinds)}")
    assert executed >= 50 and reverted >= 1


def _router_swap(pair: UniswapV2Pair, token_in: str, exact_in: bool, amount: int) -> V2SwapResult | Reverted:
    try:
        return pair.swap_exact_in(token_in, amount) if exact_in else pair.swap_exact_out(token_in, amount)
    except UniswapV2Revert as revert:
        return Reverted(revert.reason)


def _input_needed(pair: UniswapV2Pair, token_in: str, exact_in: bool, amount: int) -> int:
    if exact_in:
        return amount
    try:
        return pair.get_amount_in(token_in, amount)
    except UniswapV2Revert:
        return 0
