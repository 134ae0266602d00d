"""Known-answer vectors for the V3 libraries (the numbers in v3-core's own spec tests); no chain needed."""

from __future__ import annotations

import random
from math import isqrt

import pytest

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
    get_amount1_delta,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    mul_div,
    mul_div_rounding_up,
    next_initialized_tick_within_one_word,
    tick_spacing_to_max_liquidity_per_tick,
)
from defibots.protocols.uniswap_v3.tick_math import tick_at_sqrt_ratio_fast

Q96 = 1 << 96
Q128 = 1 << 128
MAX_UINT256 = (1 << 256) - 1


def encode_price_sqrt(reserve1: int, reserve0: int) -> int:
    """sqrt(reserve1 / reserve0) in Q64.96, as v3-core's test helper encodePriceSqrt."""
    return isqrt((reserve1 << 192) // reserve0)


def test_sqrt_ratio_at_tick_bounds() -> None:
    assert get_sqrt_ratio_at_tick(MIN_TICK) == MIN_SQRT_RATIO == 4295128739
    assert get_sqrt_ratio_at_tick(MIN_TICK + 1) == 4295343490
    assert get_sqrt_ratio_at_tick(0) == Q96
    assert get_sqrt_ratio_at_tick(MAX_TICK - 1) == 1461373636630004318706518188784493106690254656249
    assert (
        get_sqrt_ratio_at_tick(MAX_TICK)
        == MAX_SQRT_RATIO
        == 1461446703485210103287273052203988822378723970342
    )


@pytest.mark.parametrize("tick", [MIN_TICK - 1, MAX_TICK + 1])
def test_sqrt_ratio_at_tick_out_of_range_reverts_t(tick: int) -> None:
    with pytest.raises(UniswapV3Revert) as raised:
        get_sqrt_ratio_at_tick(tick)
    assert raised.value.reason == "T"


def test_tick_at_sqrt_ratio_bounds_and_inverse() -> None:
    assert get_tick_at_sqrt_ratio(MIN_SQRT_RATIO) == MIN_TICK
    assert get_tick_at_sqrt_ratio(MIN_SQRT_RATIO + 1) == MIN_TICK
    assert get_tick_at_sqrt_ratio(MAX_SQRT_RATIO - 1) == MAX_TICK - 1
    for tick in (-887271, -500_000, -1, 0, 1, 12345, 887271):
        price = get_sqrt_ratio_at_tick(tick)
        assert get_tick_at_sqrt_ratio(price) == tick_at_sqrt_ratio_fast(price) == tick
        assert get_tick_at_sqrt_ratio(price - 1) == tick_at_sqrt_ratio_fast(price - 1) == tick - 1
    for price in (MIN_SQRT_RATIO - 1, MAX_SQRT_RATIO):
        with pytest.raises(UniswapV3Revert) as raised:
            get_tick_at_sqrt_ratio(price)
        assert raised.value.reason == "R"


def test_full_math() -> None:
    assert mul_div(Q128, 50 * Q128 // 100, 150 * Q128 // 100) == Q128 // 3
    assert mul_div_rounding_up(Q128, 50 * Q128 // 100, 150 * Q128 // 100) == Q128 // 3 + 1
    assert mul_div(MAX_UINT256, MAX_UINT256, MAX_UINT256) == MAX_UINT256
    for a, b, denominator in ((Q128, 5, 0), (Q128, Q128, 1)):
        with pytest.raises(UniswapV3Revert):
            mul_div(a, b, denominator)
    with pytest.raises(UniswapV3Revert):  # rounds up past uint256
        mul_div_rounding_up(
            535006138814359, 432862656469423142931042426214547535783388063929571229938474969, 2
        )


def test_next_sqrt_price_from_input_and_output() -> None:
    one = encode_price_sqrt(1, 1)
    assert get_next_sqrt_price_from_input(one, 10**18, 10**17, False) == 87150978765690771352898345369
    assert get_next_sqrt_price_from_input(one, 10**18, 10**17, True) == 72025602285694852357767227579
    assert get_next_sqrt_price_from_input(one, 10**19, 1 << 100, True) == 624999999995069620
    assert get_next_sqrt_price_from_input(one, 1, MAX_UINT256 // 2, True) == 1
    assert get_next_sqrt_price_from_output(one, 10**18, 10**17, False) == 88031291682515930659493278152
    assert get_next_sqrt_price_from_output(one, 10**18, 10**17, True) == 71305346262837903834189555302
    with pytest.raises(UniswapV3Revert):  # output equal to the virtual token0 reserves
        get_next_sqrt_price_from_output(20282409603651670423947251286016, 1024, 4, False)


def test_amount_deltas_round_in_the_pools_favour() -> None:
    low, high = encode_price_sqrt(1, 1), encode_price_sqrt(121, 100)
    assert get_amount0_delta(low, high, 10**18, True) == 90909090909090910
    assert get_amount0_delta(low, high, 10**18, False) == 90909090909090909
    assert get_amount1_delta(low, high, 10**18, True) == 100000000000000000
    assert get_amount1_delta(low, high, 10**18, False) == 99999999999999999


def test_compute_swap_step_vectors() -> None:
    price = encode_price_sqrt(1, 1)
    target = encode_price_sqrt(101, 100)
    # exact input capped at the price target
    assert compute_swap_step(price, target, 2 * 10**18, 10**18, 600) == (
        target,
        9975124224178055,
        9925619580021728,
        5988667735148,
    )
    # exact input fully spent before the target: fee is the remainder
    assert compute_swap_step(price, encode_price_sqrt(1000, 100), 2 * 10**18, 10**18, 600) == (
        118818475322642227089037862318,
        999400000000000000,
        666399946655997866,
        600000000000000,
    )
    assert compute_swap_step(2413, 79887613182836312, 1985041575832132834610021537970, 10490, 1872)[
        1:4:2
    ] == (
        10448,
        42,
    )


def test_add_delta_reasons() -> None:
    assert add_delta(1, -1) == 0
    assert add_delta((1 << 128) - 2, 1) == (1 << 128) - 1
    for x, y, reason in ((0, -1, "LS"), ((1 << 128) - 1, 1, "LA")):
        with pytest.raises(UniswapV3Revert) as raised:
            add_delta(x, y)
        assert raised.value.reason == reason


def test_bitmap_negative_ticks_round_down() -> None:
    bitmap: dict[int, int] = {}
    for tick in (-200, -55, 78, 84, 139, 240, 535):
        flip_tick(bitmap, tick, 1)
    assert next_initialized_tick_within_one_word(bitmap, 78, 1, False) == (84, True)
    assert next_initialized_tick_within_one_word(bitmap, -55, 1, False) == (-1, False)  # end of word -1
    assert next_initialized_tick_within_one_word(bitmap, 255, 1, False) == (511, False)
    assert next_initialized_tick_within_one_word(bitmap, 78, 1, True) == (78, True)
    assert next_initialized_tick_within_one_word(bitmap, -55, 1, True) == (-55, True)
    assert next_initialized_tick_within_one_word(bitmap, -257, 1, True) == (-512, False)
    spaced: dict[int, int] = {}
    flip_tick(spaced, -120, 60)
    # -61 // 60 is -2 (floor): the search starts at compressed -2, i.e. tick -120
    assert next_initialized_tick_within_one_word(spaced, -61, 60, True) == (-120, True)
    assert next_initialized_tick_within_one_word(spaced, -121, 60, True) == (-256 * 60, False)
    with pytest.raises(UniswapV3Revert):
        flip_tick(spaced, 30, 60)


def test_max_liquidity_per_tick() -> None:
    assert tick_spacing_to_max_liquidity_per_tick(1) == 191757530477355301479181766273477
    assert tick_spacing_to_max_liquidity_per_tick(60) == 11505743598341114571880798222544994
    assert tick_spacing_to_max_liquidity_per_tick(200) == 38350317471085141830651933667504588


def test_fast_tick_lookup_agrees_at_tick_boundaries() -> None:
    """The float shortcut must fall back correctly right at (and one wei around) every kind of boundary."""
    rng = random.Random(5)
    for tick in [MIN_TICK, MIN_TICK + 1, -1, 0, 1, MAX_TICK - 1] + [
        rng.randint(MIN_TICK, MAX_TICK) for _ in range(1500)
    ]:
        price = get_sqrt_ratio_at_tick(tick)
        for candidate in (price - 1, price, price + 1):
            if MIN_SQRT_RATIO <= candidate < MAX_SQRT_RATIO:
                assert tick_at_sqrt_ratio_fast(candidate) == get_tick_at_sqrt_ratio(candidate)
