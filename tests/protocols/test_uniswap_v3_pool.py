"""UniswapV3Pool model: the inlined swap loop against the library composition, and mint/burn effects."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from defibots.protocols.uniswap_v3 import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    UniswapV3Pool,
    UniswapV3Revert,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)

from .v3_reference import reference_swap

TOKEN0 = "0x6B175474E89094C44Da98b954EedeAC495271d0F"
TOKEN1 = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
FEE_SPACINGS = ((100, 1), (500, 10), (3000, 60), (10000, 200))


def empty_pool(fee: int, spacing: int, sqrt_price: int) -> UniswapV3Pool:
    return UniswapV3Pool(
        address="0x0000000000000000000000000000000000000bee",
        token0=TOKEN0,
        token1=TOKEN1,
        fee=fee,
        tick_spacing=spacing,
        sqrt_price_x96=sqrt_price,
        tick=get_tick_at_sqrt_ratio(sqrt_price),
        liquidity=0,
    )


def random_pool(rng: random.Random) -> UniswapV3Pool:
    """Hundreds of positions around a random price, crossing word boundaries and tick 0, some full
    range, some with a lower tick that is another's upper tick (net 0, gross > 0), some sparse far away
    so swaps run through empty words and out of liquidity."""
    fee, spacing = rng.choice(FEE_SPACINGS)
    center = rng.choice([0, -1, rng.randint(-300_000, 300_000)])
    price = get_sqrt_ratio_at_tick(center) + rng.choice([0, 0, 1, rng.randint(0, 1 << 80)])
    pool = empty_pool(fee, spacing, price)
    usable_min = -(MAX_TICK // spacing) * spacing
    width = spacing * 256 * rng.choice([1, 3, 8])
    for _ in range(rng.randint(5, 150)):
        lower = (center + rng.randint(-width, width)) // spacing * spacing
        upper = lower + spacing * rng.choice([1, 2, rng.randint(1, 700)])
        if rng.random() < 0.05:
            lower, upper = usable_min, -usable_min
        if rng.random() < 0.05:  # far away: leaves empty words between liquidity
            lower = (center + rng.choice([-1, 1]) * rng.randint(width, 40 * width)) // spacing * spacing
            upper = lower + spacing * rng.randint(1, 50)
        lower, upper = max(lower, usable_min), min(upper, -usable_min)
        if lower >= upper:
            continue
        liquidity = rng.choice([1, rng.randint(1, 10**6), rng.randint(1, 10**24), rng.randint(1, 1 << 100)])
        pool = pool.modify_liquidity(lower, upper, liquidity).pool_after
        if rng.random() < 0.1 and upper + spacing <= -usable_min:  # stacked range sharing a tick
            pool = pool.modify_liquidity(upper, upper + spacing, liquidity).pool_after
    return pool


def random_limit(rng: random.Random, pool: UniswapV3Pool, zero_for_one: bool) -> int | None:
    spacing = pool.tick_spacing
    roll = rng.random()
    if roll < 0.4:
        return None
    if roll < 0.6:  # exactly on a word edge: in compressed ticks a multiple of 256
        word = (pool.tick // spacing >> 8) + rng.randint(-6, 6)
        tick = word * 256 * spacing
    elif roll < 0.8 and pool.ticks:  # exactly on an initialized tick
        tick = rng.choice(list(pool.ticks))
    else:
        tick = pool.tick + rng.randint(-spacing * 2000, spacing * 2000)
    tick = max(MIN_TICK + 1, min(MAX_TICK - 1, tick))
    limit = get_sqrt_ratio_at_tick(tick) + rng.choice([0, 0, 1, -1])
    ok = (
        MIN_SQRT_RATIO < limit < pool.sqrt_price_x96
        if zero_for_one
        else pool.sqrt_price_x96 < limit < MAX_SQRT_RATIO
    )
    return limit if ok or rng.random() < 0.1 else None


def random_amount(rng: random.Random) -> int:
    magnitude = rng.randint(1, 1 << rng.randint(1, 130))
    return magnitude if rng.random() < 0.5 else -magnitude


def swap_facts(result: object) -> tuple[int, ...]:
    return tuple(
        getattr(result, name)
        for name in ("amount0", "amount1", "sqrt_price_x96", "tick", "liquidity", "ticks_crossed")
    )


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_swap_matches_the_library_composition(seed: int) -> None:
    rng = random.Random(seed)
    pool = random_pool(rng)
    for _ in range(12):
        zero_for_one = rng.random() < 0.5
        amount = random_amount(rng)
        limit = random_limit(rng, pool, zero_for_one)
        try:
            expected = reference_swap(pool, zero_for_one, amount, limit)
        except UniswapV3Revert as revert:
            with pytest.raises(UniswapV3Revert) as raised:
                pool.swap(zero_for_one, amount, limit)
            assert raised.value.reason == revert.reason
            continue
        result = pool.swap(zero_for_one, amount, limit)
        assert swap_facts(result) == swap_facts(expected)
        pool = result.pool_after


def test_out_of_liquidity_limit_on_a_skipped_word_edge() -> None:
    """Zero liquidity between ranges: the model skips empty words, yet must end where the contract's
    word-by-word walk ends, including tick = edge - 1 when the limit sits exactly on a word edge."""
    pool = empty_pool(3000, 60, get_sqrt_ratio_at_tick(0))
    pool = pool.modify_liquidity(-60, 60, 10**18).pool_after
    pool = pool.modify_liquidity(-60 * 256 * 9, -60 * 256 * 9 + 60, 10**18).pool_after
    for edge_word in (-1, -2, -5, -8):
        limit = get_sqrt_ratio_at_tick(edge_word * 256 * 60)
        result = pool.swap(True, 10**30, limit)
        expected = reference_swap(pool, True, 10**30, limit)
        assert swap_facts(result) == swap_facts(expected)
        assert result.tick == edge_word * 256 * 60 - 1
        assert result.sqrt_price_x96 == limit
    up = pool.swap(False, 10**30, get_sqrt_ratio_at_tick(5 * 256 * 60 - 60))
    assert swap_facts(up) == swap_facts(
        reference_swap(pool, False, 10**30, get_sqrt_ratio_at_tick(5 * 256 * 60 - 60))
    )
    assert up.tick == 5 * 256 * 60 - 60


def test_exact_input_crossing_ticks_in_wei() -> None:
    """One position [-120, 120) around price 1: a token0 swap that exhausts it fills partially."""
    pool = empty_pool(3000, 60, get_sqrt_ratio_at_tick(0))
    mint = pool.modify_liquidity(-120, 120, 10**18)
    assert (mint.amount0, mint.amount1) == (5981737760509663, 5981737760509663)
    pool = mint.pool_after
    small = pool.swap_exact_in(TOKEN0, 10**15)
    assert small.zero_for_one and small.amount_in == 10**15
    assert (small.amount0, small.amount1) == (10**15, -996006981039903)
    assert small.ticks_crossed == 0
    everything = pool.swap_exact_in(TOKEN0, 10**18)
    # the pool takes only what the range can absorb and stops at the no-limit price
    assert everything.amount_in == 6035841794200769
    assert everything.amount_out == 5981737760509662
    assert everything.sqrt_price_x96 == MIN_SQRT_RATIO + 1
    assert everything.liquidity == 0 and everything.ticks_crossed == 1
    assert everything.tick == MIN_TICK
    exact_out = pool.swap_exact_out(TOKEN1, 10**15)
    assert exact_out.amount_out == 10**15 and not exact_out.zero_for_one
    assert exact_out.amount_in == 1004013040121367


def test_swap_reverts_like_the_pool() -> None:
    pool = empty_pool(500, 10, get_sqrt_ratio_at_tick(100)).modify_liquidity(-1000, 1000, 10**20).pool_after
    with pytest.raises(UniswapV3Revert) as raised:
        pool.swap(True, 0)
    assert raised.value.reason == "AS"
    for zero_for_one, limit in (
        (True, pool.sqrt_price_x96),
        (True, MIN_SQRT_RATIO),
        (False, pool.sqrt_price_x96),
        (False, MAX_SQRT_RATIO),
        (True, pool.sqrt_price_x96 + 1),
    ):
        with pytest.raises(UniswapV3Revert) as raised:
            pool.swap(zero_for_one, 1000, limit)
        assert raised.value.reason == "SPL"
    with pytest.raises(ValueError):
        pool.swap_exact_in("0x0000000000000000000000000000000000000001", 1)


def test_swap_leaves_the_original_and_shares_ticks() -> None:
    pool = random_pool(random.Random(7))
    before = (pool.sqrt_price_x96, pool.tick, pool.liquidity, dict(pool.ticks), dict(pool.bitmap))
    result = pool.swap_exact_in(TOKEN1.lower(), 10**20)
    after = result.pool_after
    assert (pool.sqrt_price_x96, pool.tick, pool.liquidity, dict(pool.ticks), dict(pool.bitmap)) == before
    assert (after.sqrt_price_x96, after.tick, after.liquidity) == (
        result.sqrt_price_x96,
        result.tick,
        result.liquidity,
    )
    assert after.ticks == pool.ticks
    with pytest.raises(AttributeError):
        pool.liquidity = 5


def test_mint_then_burn_restores_ticks_bitmap_and_liquidity() -> None:
    pool = random_pool(random.Random(11))
    spacing = pool.tick_spacing
    lower = (pool.tick // spacing - 3) * spacing
    upper = (pool.tick // spacing + 700) * spacing  # crosses into another bitmap word
    minted = pool.modify_liquidity(lower, upper, 123456789)
    assert minted.amount0 > 0 and minted.amount1 > 0
    assert minted.pool_after.liquidity == pool.liquidity + 123456789
    assert lower in minted.pool_after.ticks and upper in minted.pool_after.ticks
    burned = minted.pool_after.modify_liquidity(lower, upper, -123456789)
    # a mint rounds up and a burn rounds down: the pool keeps at most 1 wei of each token
    assert 0 <= minted.amount0 + burned.amount0 <= 1 and 0 <= minted.amount1 + burned.amount1 <= 1
    restored = burned.pool_after
    assert restored.liquidity == pool.liquidity
    assert dict(restored.ticks) == dict(pool.ticks)
    assert dict(restored.bitmap) == dict(pool.bitmap)
    assert restored == pool


def test_modify_liquidity_reverts() -> None:
    pool = empty_pool(3000, 60, get_sqrt_ratio_at_tick(0))
    max_per_tick = pool.max_liquidity_per_tick
    cases = [
        ((120, 60, 1), "TLU"),
        ((60, 60, 1), "TLU"),
        ((MIN_TICK - 60, 0, 1), "TLM"),
        ((0, MAX_TICK + 60, 1), "TUM"),
        ((-60, 60, -1), "LS"),
        ((-60, 60, max_per_tick + 1), "LO"),
        ((-61, 60, 1), ""),  # not on the spacing: flipTick's require
    ]
    for (lower, upper, delta), reason in cases:
        with pytest.raises(UniswapV3Revert) as raised:
            pool.modify_liquidity(lower, upper, delta)
        assert raised.value.reason == reason, (lower, upper, delta)
    full = pool.modify_liquidity(-60, 60, max_per_tick).pool_after
    with pytest.raises(UniswapV3Revert) as raised:
        full.modify_liquidity(-60, 120, 1)
    assert raised.value.reason == "LO"


def test_out_of_range_positions_need_one_token() -> None:
    pool = empty_pool(3000, 60, get_sqrt_ratio_at_tick(0))
    above = pool.modify_liquidity(600, 1200, 10**18)
    below = pool.modify_liquidity(-1200, -600, 10**18)
    assert above.amount1 == 0 and above.amount0 > 0 and above.pool_after.liquidity == 0
    assert below.amount0 == 0 and below.amount1 > 0 and below.pool_after.liquidity == 0


def test_from_chain_state_rebuilds_the_bitmap() -> None:
    pool = random_pool(random.Random(3))
    chain_ticks = [(tick, gross, net) for tick, (gross, net) in pool.ticks.items()]
    rebuilt = UniswapV3Pool.from_chain_state(
        address=pool.address,
        token0=pool.token0,
        token1=pool.token1,
        fee=pool.fee,
        tick_spacing=pool.tick_spacing,
        sqrt_price_x96=pool.sqrt_price_x96,
        tick=pool.tick,
        liquidity=pool.liquidity,
        ticks=[*chain_ticks, (pool.tick_spacing * 7, 0, 0)],  # an uninitialized tick is ignored
        bitmap_words=dict(pool.bitmap),
    )
    assert rebuilt == pool and dict(rebuilt.bitmap) == dict(pool.bitmap)
    assert swap_facts(rebuilt.swap(True, 10**21)) == swap_facts(pool.swap(True, 10**21))
    with pytest.raises(ValueError, match="bitmap"):
        UniswapV3Pool.from_chain_state(
            address=pool.address,
            token0=pool.token0,
            token1=pool.token1,
            fee=pool.fee,
            tick_spacing=pool.tick_spacing,
            sqrt_price_x96=pool.sqrt_price_x96,
            tick=pool.tick,
            liquidity=pool.liquidity,
            ticks=chain_ticks[1:],
            bitmap_words=dict(pool.bitmap),
        )


def test_updates_only_move_forward() -> None:
    pool = empty_pool(500, 10, get_sqrt_ratio_at_tick(0)).at(100, 5)
    assert pool.with_slot0(pool.sqrt_price_x96 + 1, 0, 0, 100, 6).log_index == 6
    with pytest.raises(ValueError, match="stale"):
        pool.at(100, 4)
