"""Property tests: every V3 library model against the real v3-core libraries (solc 0.7.6) via eth_call.

Each example compares the model's value, or its revert reason, with the contract's for the same
inputs. Inputs are drawn with log-uniform bit lengths so overflow branches and edge cases are hit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from defibots.protocols.uniswap_v3 import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    UniswapV3Revert,
    add_delta,
    compute_swap_step,
    flip_tick,
    get_amount0_delta,
    get_amount0_delta_signed,
    get_amount1_delta,
    get_amount1_delta_signed,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    mul_div,
    mul_div_rounding_up,
    next_initialized_tick_within_one_word,
    tick_spacing_to_max_liquidity_per_tick,
)
from defibots.protocols.uniswap_v3.sqrt_price_math import (
    get_next_sqrt_price_from_amount0_rounding_up,
    get_next_sqrt_price_from_amount1_rounding_down,
)
from defibots.protocols.uniswap_v3.tick_math import tick_at_sqrt_ratio_fast

from .conftest import AbiContract, Reverted

PROPERTY = settings(max_examples=500, deadline=None)
MAX_UINT256 = (1 << 256) - 1
MAX_UINT160 = (1 << 160) - 1
MAX_UINT128 = (1 << 128) - 1
Q96 = 1 << 96


def outcome(function: Callable[..., Any], *args: Any) -> Any:
    """The model's value, or Reverted(reason) where the model says the contract reverts."""
    try:
        return function(*args)
    except UniswapV3Revert as revert:
        return Reverted(revert.reason)


def uint(bits: int) -> st.SearchStrategy[int]:
    """Unsigned ints: uniform bit length (reaches overflow edges), uniform value, and the extremes."""
    top = (1 << bits) - 1
    return st.one_of(
        st.integers(0, bits).flatmap(lambda b: st.integers(0, (1 << b) - 1)),
        st.integers(0, top),
        st.sampled_from([0, 1, 2, top - 1, top]),
    )


def sint(bits: int) -> st.SearchStrategy[int]:
    low = -(1 << (bits - 1))
    return st.one_of(
        st.builds(
            lambda magnitude, negative: -magnitude if negative else magnitude, uint(bits - 1), st.booleans()
        ),
        st.sampled_from([low, low + 1, -1, 0, 1, -low - 1]),
    )


ticks = st.integers(MIN_TICK, MAX_TICK)
# Prices a pool can hold: exact tick prices and their neighbours, uniform, and log-uniform in range.
valid_sqrt_prices = st.one_of(
    st.builds(
        lambda t, d: min(max(get_sqrt_ratio_at_tick(t) + d, MIN_SQRT_RATIO), MAX_SQRT_RATIO - 1),
        ticks,
        st.sampled_from([-1, 0, 1]),
    ),
    st.integers(MIN_SQRT_RATIO, MAX_SQRT_RATIO - 1),
    st.integers(33, 160).flatmap(
        lambda b: st.integers(max(MIN_SQRT_RATIO, 1 << (b - 1)), min(MAX_SQRT_RATIO - 1, (1 << b) - 1))
    ),
)
any_sqrt_prices = st.one_of(valid_sqrt_prices, uint(160))
liquidities = uint(128)
fees = st.one_of(st.sampled_from([0, 100, 500, 3000, 10000, 999_999]), st.integers(0, 999_999))


@PROPERTY
@given(a=uint(256), b=uint(256), denominator=uint(256))
@example(a=MAX_UINT256, b=MAX_UINT256, denominator=MAX_UINT256 - 1)
@example(a=MAX_UINT256, b=MAX_UINT256, denominator=MAX_UINT256)
@example(a=1 << 200, b=1 << 100, denominator=0)
def test_mul_div(v3_math: AbiContract, a: int, b: int, denominator: int) -> None:
    assert outcome(mul_div, a, b, denominator) == v3_math.call("mulDiv", a, b, denominator)


@PROPERTY
@given(a=uint(256), b=uint(256), denominator=uint(256))
@example(a=535006138814359, b=432862656469423142931042426214547535783388063929571229938474969, denominator=2)
@example(a=MAX_UINT256, b=MAX_UINT256, denominator=MAX_UINT256)
def test_mul_div_rounding_up(v3_math: AbiContract, a: int, b: int, denominator: int) -> None:
    assert outcome(mul_div_rounding_up, a, b, denominator) == v3_math.call(
        "mulDivRoundingUp", a, b, denominator
    )


@PROPERTY
@given(
    tick=st.one_of(
        ticks, st.integers(-(1 << 23), (1 << 23) - 1), st.sampled_from([MIN_TICK - 1, MAX_TICK + 1])
    )
)
def test_get_sqrt_ratio_at_tick(v3_math: AbiContract, tick: int) -> None:
    assert outcome(get_sqrt_ratio_at_tick, tick) == v3_math.call("getSqrtRatioAtTick", tick)


@PROPERTY
@given(
    sqrt_price=st.one_of(valid_sqrt_prices, uint(160), st.sampled_from([MIN_SQRT_RATIO - 1, MAX_SQRT_RATIO]))
)
def test_get_tick_at_sqrt_ratio(v3_math: AbiContract, sqrt_price: int) -> None:
    expected = v3_math.call("getTickAtSqrtRatio", sqrt_price)
    assert outcome(get_tick_at_sqrt_ratio, sqrt_price) == expected
    assert outcome(tick_at_sqrt_ratio_fast, sqrt_price) == expected


@PROPERTY
@given(sqrt_price=any_sqrt_prices, liquidity=liquidities, amount=uint(256), add=st.booleans())
@example(sqrt_price=(1 << 160) - 1, liquidity=1, amount=(1 << 96) + 1, add=True)  # product overflows
@example(sqrt_price=1 << 159, liquidity=MAX_UINT128, amount=(1 << 97) - 1, add=True)  # denominator overflows
def test_get_next_sqrt_price_from_amount0_rounding_up(
    v3_math: AbiContract, sqrt_price: int, liquidity: int, amount: int, add: bool
) -> None:
    args = (sqrt_price, liquidity, amount, add)
    expected = v3_math.call("getNextSqrtPriceFromAmount0RoundingUp", *args)
    assert outcome(get_next_sqrt_price_from_amount0_rounding_up, *args) == expected


@PROPERTY
@given(sqrt_price=any_sqrt_prices, liquidity=liquidities, amount=uint(256), add=st.booleans())
def test_get_next_sqrt_price_from_amount1_rounding_down(
    v3_math: AbiContract, sqrt_price: int, liquidity: int, amount: int, add: bool
) -> None:
    args = (sqrt_price, liquidity, amount, add)
    expected = v3_math.call("getNextSqrtPriceFromAmount1RoundingDown", *args)
    assert outcome(get_next_sqrt_price_from_amount1_rounding_down, *args) == expected


@PROPERTY
@given(sqrt_price=any_sqrt_prices, liquidity=liquidities, amount=uint(256), zero_for_one=st.booleans())
@example(sqrt_price=Q96, liquidity=10**18, amount=1 << 100, zero_for_one=True)
@example(sqrt_price=Q96, liquidity=1, amount=MAX_UINT256 // 2, zero_for_one=True)
@example(sqrt_price=MAX_UINT160, liquidity=MAX_UINT128, amount=MAX_UINT256, zero_for_one=True)
def test_get_next_sqrt_price_from_input(
    v3_math: AbiContract, sqrt_price: int, liquidity: int, amount: int, zero_for_one: bool
) -> None:
    args = (sqrt_price, liquidity, amount, zero_for_one)
    assert outcome(get_next_sqrt_price_from_input, *args) == v3_math.call("getNextSqrtPriceFromInput", *args)


@PROPERTY
@given(sqrt_price=any_sqrt_prices, liquidity=liquidities, amount=uint(256), zero_for_one=st.booleans())
@example(sqrt_price=20282409603651670423947251286016, liquidity=1024, amount=4, zero_for_one=False)
@example(sqrt_price=20282409603651670423947251286016, liquidity=1024, amount=262144, zero_for_one=True)
def test_get_next_sqrt_price_from_output(
    v3_math: AbiContract, sqrt_price: int, liquidity: int, amount: int, zero_for_one: bool
) -> None:
    args = (sqrt_price, liquidity, amount, zero_for_one)
    assert outcome(get_next_sqrt_price_from_output, *args) == v3_math.call(
        "getNextSqrtPriceFromOutput", *args
    )


@PROPERTY
@given(price_a=any_sqrt_prices, price_b=any_sqrt_prices, liquidity=liquidities, round_up=st.booleans())
def test_get_amount0_delta(
    v3_math: AbiContract, price_a: int, price_b: int, liquidity: int, round_up: bool
) -> None:
    args = (price_a, price_b, liquidity, round_up)
    assert outcome(get_amount0_delta, *args) == v3_math.call("getAmount0Delta", *args)


@PROPERTY
@given(price_a=any_sqrt_prices, price_b=any_sqrt_prices, liquidity=liquidities, round_up=st.booleans())
def test_get_amount1_delta(
    v3_math: AbiContract, price_a: int, price_b: int, liquidity: int, round_up: bool
) -> None:
    args = (price_a, price_b, liquidity, round_up)
    assert outcome(get_amount1_delta, *args) == v3_math.call("getAmount1Delta", *args)


@PROPERTY
@given(price_a=any_sqrt_prices, price_b=any_sqrt_prices, liquidity=sint(128))
def test_signed_amount_deltas(v3_math: AbiContract, price_a: int, price_b: int, liquidity: int) -> None:
    args = (price_a, price_b, liquidity)
    assert outcome(get_amount0_delta_signed, *args) == v3_math.call("getAmount0DeltaSigned", *args)
    assert outcome(get_amount1_delta_signed, *args) == v3_math.call("getAmount1DeltaSigned", *args)


@PROPERTY
@given(
    current=st.one_of(valid_sqrt_prices, valid_sqrt_prices, any_sqrt_prices),
    target=st.one_of(valid_sqrt_prices, valid_sqrt_prices, any_sqrt_prices),
    liquidity=liquidities,
    amount_remaining=sint(256),
    fee=st.one_of(fees, fees, fees, st.integers(0, (1 << 24) - 1)),
)
@example(  # exact input capped at the price target, one for zero (v3-core's own test case)
    current=Q96, target=79623317895830914510639640423, liquidity=2 * 10**18, amount_remaining=10**18, fee=600
)
@example(  # exact input that spends everything and stops short: fee = remaining - amountIn
    current=2413,
    target=79887613182836312,
    liquidity=1985041575832132834610021537970,
    amount_remaining=10490,
    fee=1872,
)
def test_compute_swap_step(
    v3_math: AbiContract, current: int, target: int, liquidity: int, amount_remaining: int, fee: int
) -> None:
    args = (current, target, liquidity, amount_remaining, fee)
    assert outcome(compute_swap_step, *args) == v3_math.call("computeSwapStep", *args)


@PROPERTY
@given(x=uint(128), y=sint(128))
def test_add_delta(v3_math: AbiContract, x: int, y: int) -> None:
    assert outcome(add_delta, x, y) == v3_math.call("addDelta", x, y)


@PROPERTY
@given(tick_spacing=st.one_of(st.sampled_from([1, 10, 60, 200]), st.integers(1, 16383)))
def test_tick_spacing_to_max_liquidity_per_tick(v3_math: AbiContract, tick_spacing: int) -> None:
    expected = v3_math.call("tickSpacingToMaxLiquidityPerTick", tick_spacing)
    assert tick_spacing_to_max_liquidity_per_tick(tick_spacing) == expected


@st.composite
def bitmap_cases(draw: st.DrawFn) -> tuple[list[int], int, int, bool]:
    """A spacing, some flips near a tick (aligned, a few repeated or misaligned), the tick and direction."""
    spacing = draw(st.one_of(st.sampled_from([1, 10, 60, 200]), st.integers(1, 16383)))
    usable = MAX_TICK // spacing
    center = draw(st.integers(-usable, usable))
    near = st.integers(max(-usable, center - 600), min(usable, center + 600))
    flips = [c * spacing for c in draw(st.lists(near, max_size=12))]
    if flips and draw(st.integers(0, 9)) == 0:
        flips.append(flips[0] + draw(st.integers(1, spacing)) if spacing > 1 else flips[0])
    tick = draw(st.one_of(near.map(lambda c: c * spacing), st.integers(MIN_TICK, MAX_TICK)))
    tick = draw(st.sampled_from([tick, max(MIN_TICK, min(MAX_TICK, tick + draw(st.integers(-3, 3))))]))
    return flips, spacing, tick, draw(st.booleans())


@PROPERTY
@given(case=bitmap_cases())
@example(case=([-256, -1, 0, 255], 1, -1, True))
@example(case=([-256, -1, 0, 255], 1, -257, False))
@example(case=([-120, 60], 60, -61, True))  # negative tick not on the spacing: compressed rounds down
def test_next_initialized_tick_within_one_word(
    v3_math: AbiContract, case: tuple[list[int], int, int, bool]
) -> None:
    flips, spacing, tick, lte = case
    bitmap: dict[int, int] = {}

    def model() -> tuple[int, bool]:
        for flip in flips:
            flip_tick(bitmap, flip, spacing)
        return next_initialized_tick_within_one_word(bitmap, tick, spacing, lte)

    assert outcome(model) == v3_math.call("flipThenNextInitializedTick", flips, spacing, tick, lte)


@PROPERTY
@given(case=bitmap_cases())
def test_flip_tick_words(v3_math: AbiContract, case: tuple[list[int], int, int, bool]) -> None:
    flips, spacing, _, _ = case
    positions = sorted({(f // spacing) >> 8 for f in flips} | {-1, 0})

    def model() -> list[int]:
        bitmap: dict[int, int] = {}
        for flip in flips:
            flip_tick(bitmap, flip, spacing)
        return [bitmap.get(position, 0) for position in positions]

    expected = v3_math.call("flipTicks", flips, spacing, positions)
    got = outcome(model)
    assert got == (list(expected) if isinstance(expected, tuple) else expected)
