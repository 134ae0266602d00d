"""SwapMath.computeSwapStep: one swap step within a single tick range, bit-exact to v3-core 1.0.1."""

from __future__ import annotations

from defibots.protocols.uniswap_v3.full_math import mul_div, mul_div_rounding_up
from defibots.protocols.uniswap_v3.sqrt_price_math import (
    get_amount0_delta,
    get_amount1_delta,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
)

FEE_UNIT = 1_000_000
MAX_UINT256 = (1 << 256) - 1


def compute_swap_step(
    sqrt_ratio_current_x96: int,
    sqrt_ratio_target_x96: int,
    liquidity: int,
    amount_remaining: int,
    fee_pips: int,
) -> tuple[int, int, int, int]:
    """Returns (sqrt_ratio_next_x96, amount_in, amount_out, fee_amount).

    `amount_remaining` > 0 is exact input (fee included), < 0 exact output. When an exact-input step
    stops short of the target, the fee is whatever input is left (`remaining - amount_in`).
    """
    zero_for_one = sqrt_ratio_current_x96 >= sqrt_ratio_target_x96
    # `1e6 - feePips` is uint24 arithmetic in 0.7 (wraps); pools only ever have fee < 1e6.
    fee_complement = (FEE_UNIT - fee_pips) & 0xFFFFFF
    exact_in = amount_remaining >= 0
    amount_in = 0
    amount_out = 0

    if exact_in:
        amount_remaining_less_fee = mul_div(amount_remaining, fee_complement, FEE_UNIT)
        amount_in = (
            get_amount0_delta(sqrt_ratio_target_x96, sqrt_ratio_current_x96, liquidity, True)
            if zero_for_one
            else get_amount1_delta(sqrt_ratio_current_x96, sqrt_ratio_target_x96, liquidity, True)
        )
        if amount_remaining_less_fee >= amount_in:
            sqrt_ratio_next_x96 = sqrt_ratio_target_x96
        else:
            sqrt_ratio_next_x96 = get_next_sqrt_price_from_input(
                sqrt_ratio_current_x96, liquidity, amount_remaining_less_fee, zero_for_one
            )
    else:
        amount_out = (
            get_amount1_delta(sqrt_ratio_target_x96, sqrt_ratio_current_x96, liquidity, False)
            if zero_for_one
            else get_amount0_delta(sqrt_ratio_current_x96, sqrt_ratio_target_x96, liquidity, False)
        )
        if -amount_remaining >= amount_out:
            sqrt_ratio_next_x96 = sqrt_ratio_target_x96
        else:
            sqrt_ratio_next_x96 = get_next_sqrt_price_from_output(
                sqrt_ratio_current_x96, liquidity, -amount_remaining, zero_for_one
            )

    reached_target = sqrt_ratio_target_x96 == sqrt_ratio_next_x96

    if zero_for_one:
        if not (reached_target and exact_in):
            amount_in = get_amount0_delta(sqrt_ratio_next_x96, sqrt_ratio_current_x96, liquidity, True)
        if not (reached_target and not exact_in):
            amount_out = get_amount1_delta(sqrt_ratio_next_x96, sqrt_ratio_current_x96, liquidity, False)
    else:
        if not (reached_target and exact_in):
            amount_in = get_amount1_delta(sqrt_ratio_current_x96, sqrt_ratio_next_x96, liquidity, True)
        if not (reached_target and not exact_in):
            amount_out = get_amount0_delta(sqrt_ratio_current_x96, sqrt_ratio_next_x96, liquidity, False)

    if not exact_in and amount_out > -amount_remaining:
        amount_out = -amount_remaining

    if exact_in and sqrt_ratio_next_x96 != sqrt_ratio_target_x96:
        # Unchecked uint256 subtraction; only negative for fee_pips >= 1e6, which no pool allows.
        fee_amount = (amount_remaining - amount_in) & MAX_UINT256
    else:
        fee_amount = mul_div_rounding_up(amount_in, fee_pips, fee_complement)
    return sqrt_ratio_next_x96, amount_in, amount_out, fee_amount
