"""Uniswap V2 model: library quotes against the real UniswapV2Router02 bytecode, and the pair's swap rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from eth_abi import encode
from hypothesis import example, given, settings
from hypothesis import strategies as st

from defibots.paths import npm_artifact
from defibots.protocols.uniswap_v2 import (
    MAX_UINT112,
    UniswapV2Pair,
    UniswapV2Revert,
    get_amount_in,
    get_amount_out,
)

from .conftest import AbiContract, DevChain, JsonRpc, Reverted

ROUTER_ARTIFACT = "@uniswap/v2-periphery/build/UniswapV2Router02.json"
WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
PROPERTY = settings(max_examples=500, deadline=None)
MAX_UINT256 = (1 << 256) - 1


@pytest.fixture(scope="module")
def router(anvil_rpc: JsonRpc) -> AbiContract:
    """UniswapV2Router02 deployed from its npm artifact; its getAmountOut/In are UniswapV2Library's."""
    artifact = json.loads(npm_artifact(ROUTER_ARTIFACT).read_text())
    constructor_args = encode(["address", "address"], ["0x" + "01" * 20, WETH]).hex()
    address = DevChain(anvil_rpc).deploy("0x" + artifact["bytecode"].removeprefix("0x") + constructor_args)
    return AbiContract(anvil_rpc, artifact["abi"], address)


def outcome(function: Callable[..., int], *args: int) -> Any:
    try:
        return function(*args)
    except UniswapV2Revert as revert:
        return Reverted(revert.reason)


def uint(bits: int) -> st.SearchStrategy[int]:
    top = (1 << bits) - 1
    return st.one_of(
        st.integers(0, bits).flatmap(lambda b: st.integers(0, (1 << b) - 1)),
        st.sampled_from([0, 1, 2, top]),
    )


@PROPERTY
@given(amount_in=uint(256), reserve_in=uint(112), reserve_out=uint(112))
@example(amount_in=MAX_UINT256 // 997 + 1, reserve_in=10, reserve_out=10)  # amountIn * 997 overflows
@example(amount_in=MAX_UINT256 // 997, reserve_in=MAX_UINT112, reserve_out=1)  # the add overflows
def test_get_amount_out_matches_the_router(
    router: AbiContract, amount_in: int, reserve_in: int, reserve_out: int
) -> None:
    expected = router.call("getAmountOut", amount_in, reserve_in, reserve_out)
    assert outcome(get_amount_out, amount_in, reserve_in, reserve_out) == expected


@PROPERTY
@given(amount_out=uint(256), reserve_in=uint(112), reserve_out=uint(112))
@example(amount_out=10, reserve_in=10, reserve_out=10)  # division by zero
@example(amount_out=11, reserve_in=10, reserve_out=10)  # sub underflow
def test_get_amount_in_matches_the_router(
    router: AbiContract, amount_out: int, reserve_in: int, reserve_out: int
) -> None:
    expected = router.call("getAmountIn", amount_out, reserve_in, reserve_out)
    assert outcome(get_amount_in, amount_out, reserve_in, reserve_out) == expected


def test_library_vectors() -> None:
    assert get_amount_out(2, 100, 100) == 1
    assert get_amount_in(1, 100, 100) == 2
    # 1 WETH into 1,000 WETH / 3,000,000 USDC: 3000 * 0.997 * 1000/1001 USDC, rounded down
    assert get_amount_out(10**18, 1000 * 10**18, 3_000_000 * 10**6) == 2_988_020_943
    assert get_amount_in(2_988_020_943, 1000 * 10**18, 3_000_000 * 10**6) == 999_999_999_959_896_868
    # PancakeSwap V2 style fee 0.25%
    assert get_amount_out(10**18, 1000 * 10**18, 3_000_000 * 10**6, 9975, 10000) == 2_989_517_955
    for args, reason in (
        ((0, 1, 1), "UniswapV2Library: INSUFFICIENT_INPUT_AMOUNT"),
        ((1, 0, 1), "UniswapV2Library: INSUFFICIENT_LIQUIDITY"),
    ):
        with pytest.raises(UniswapV2Revert) as raised:
            get_amount_out(*args)
        assert raised.value.reason == reason


def pair() -> UniswapV2Pair:
    return UniswapV2Pair(
        address="0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc",
        token0=USDC,
        token1=WETH,
        reserve0=3_000_000 * 10**6,
        reserve1=1000 * 10**18,
        block_number=10,
        log_index=1,
    )


def test_router_swaps_return_the_new_reserves() -> None:
    state = pair()
    sold = state.swap_exact_in(WETH.lower(), 10**18)
    assert sold.amount_out == 2_988_020_943
    assert (sold.pair_after.reserve0, sold.pair_after.reserve1) == (
        state.reserve0 - 2_988_020_943,
        state.reserve1 + 10**18,
    )
    bought = state.swap_exact_out(USDC, 10**18)  # pay USDC, receive exactly 1 WETH
    assert bought.amount_out == 10**18
    assert bought.amount_in == state.get_amount_in(USDC, 10**18)
    assert bought.pair_after.reserve1 == state.reserve1 - 10**18
    assert state.reserve0 == 3_000_000 * 10**6  # the original is untouched
    with pytest.raises(ValueError):
        state.swap_exact_in("0x0000000000000000000000000000000000000001", 1)


def test_pair_swap_enforces_k_and_its_checks() -> None:
    state = pair()
    out = get_amount_out(10**18, state.reserve1, state.reserve0)
    state.swap(out, 0, 0, 10**18)  # exactly the library amount passes the K check
    cases = [
        ((out + 1, 0, 0, 10**18), "UniswapV2: K"),
        ((0, 0, 0, 10**18), "UniswapV2: INSUFFICIENT_OUTPUT_AMOUNT"),
        ((state.reserve0, 0, 0, 10**30), "UniswapV2: INSUFFICIENT_LIQUIDITY"),
        ((1, 0, 0, 0), "UniswapV2: INSUFFICIENT_INPUT_AMOUNT"),
        ((1, 0, 0, MAX_UINT112), "UniswapV2: OVERFLOW"),
    ]
    for args, reason in cases:
        with pytest.raises(UniswapV2Revert) as raised:
            state.swap(*args)
        assert raised.value.reason == reason, args


def test_sync_only_moves_forward() -> None:
    state = pair()
    assert state.with_reserves(1, 2, 10, 2).reserve1 == 2
    with pytest.raises(ValueError, match="stale"):
        state.with_reserves(1, 2, 9, 99)
