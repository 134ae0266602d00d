"""Position price impact as the GMX front end estimates it: impact(d) = d**exponent * factor on the
open-interest imbalance before and after the trade, positive when the trade reduces the imbalance.

The front end raises the imbalance to the exponent in 64-bit floats (`applyImpactFactor`): diff and
exponent are each converted to a double and divided by 1e30, the power is taken in floats, scaled back
by 1e30, rounded half up to an integer and then multiplied by the factor in integers. The model does the
same steps in the same order with Python floats. The contracts instead use a fixed-point pow, so this
is the UI's estimate, not the on-chain value.

`float_power` is the one platform-dependent step: Python's (glibc) pow is correctly rounded, while
Node's V8 uses an fdlibm-derived pow that differs in the last bit for some inputs, which can move a
result by a few parts in 1e16. A caller that must reproduce one platform bit for bit can replace it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from defibots.protocols.gmx_v2.market import Market, MarketConfig
from defibots.protocols.gmx_v2.precision import (
    FLOAT_PRECISION,
    apply_factor,
    convert_to_usd,
    div_toward_zero,
    mul_div,
)


class NegativeOpenInterest(ValueError):
    """The trade would take a side's open interest below zero (the SDK's "Negative pool amount")."""


@dataclass(frozen=True)
class PriceImpact:
    """A price impact in USD (1e30, positive: the trader gains) and whether the balance improved."""

    delta_usd: int
    balance_was_improved: bool


def float_power(base: float, exponent: float) -> float:
    """base ** exponent in doubles; module-level so a caller can substitute another platform's pow."""
    return math.pow(base, exponent)


def _round_half_up(value: float) -> int:
    """JavaScript Math.round: to the nearest integer, halves toward +infinity."""
    floor = math.floor(value)
    return floor + 1 if value - floor >= 0.5 else floor


def apply_impact_factor(diff: int, factor: int, exponent: int) -> int:
    """(diff / 1e30) ** (exponent / 1e30) * 1e30, taken in doubles and rounded half up, times factor."""
    scaled_power = float_power(float(diff) / 1e30, float(exponent) / 1e30) * 1e30
    return div_toward_zero(_round_half_up(scaled_power) * factor, FLOAT_PRECISION)


def _same_side_impact(current_diff: int, next_diff: int, factor: int, exponent: int) -> int:
    """The imbalance stays on one side: the change in impact(d), gained if d shrank, paid if it grew."""
    delta = abs(
        apply_impact_factor(current_diff, factor, exponent) - apply_impact_factor(next_diff, factor, exponent)
    )
    return delta if next_diff < current_diff else -delta


def _crossover_impact(
    current_diff: int,
    next_diff: int,
    factor_positive: int,
    factor_negative: int,
    exp_positive: int,
    exp_negative: int,
) -> int:
    """The imbalance flips side: positive impact for removing the old imbalance, negative for the new one."""
    positive = apply_impact_factor(current_diff, factor_positive, exp_positive)
    negative = apply_impact_factor(next_diff, factor_negative, exp_negative)
    delta = abs(positive - negative)
    return delta if positive > negative else -delta


def price_impact_usd(
    current_long_usd: int,
    current_short_usd: int,
    next_long_usd: int,
    next_short_usd: int,
    config: MarketConfig,
    fallback_to_zero: bool = False,
) -> PriceImpact:
    """The impact of moving open interest from (current long, short) to (next long, short).

    A negative next side raises NegativeOpenInterest, or gives zero impact with `fallback_to_zero`.
    """
    if next_long_usd < 0 or next_short_usd < 0:
        if fallback_to_zero:
            return PriceImpact(0, False)
        raise NegativeOpenInterest(f"next open interest long {next_long_usd}, short {next_short_usd}")
    current_diff = abs(current_long_usd - current_short_usd)
    next_diff = abs(next_long_usd - next_short_usd)
    improved = next_diff < current_diff
    if (current_long_usd < current_short_usd) == (next_long_usd < next_short_usd):
        if improved:
            factor = config.position_impact_factor_positive
            exponent = config.position_impact_exponent_factor_positive
        else:
            factor = config.position_impact_factor_negative
            exponent = config.position_impact_exponent_factor_negative
        delta = _same_side_impact(current_diff, next_diff, factor, exponent)
    else:
        delta = _crossover_impact(
            current_diff,
            next_diff,
            config.position_impact_factor_positive,
            config.position_impact_factor_negative,
            config.position_impact_exponent_factor_positive,
            config.position_impact_exponent_factor_negative,
        )
    return PriceImpact(delta, improved)


def _next_open_interest(
    current_long: int, current_short: int, usd_delta: int, is_long: bool
) -> tuple[int, int, int, int]:
    if is_long:
        return current_long, current_short, current_long + usd_delta, current_short
    return current_long, current_short, current_long, current_short + usd_delta


def price_impact_for_position(
    market: Market, size_delta_usd: int, is_long: bool, fallback_to_zero: bool = False
) -> PriceImpact:
    """The uncapped impact of changing a long (or short) by `size_delta_usd` (negative: a decrease).

    A negative impact is made worse by the market's virtual inventory when that one is set: the front
    end takes the lower of the market's and the virtual inventory's impact.
    """
    config = market.config
    oi = _next_open_interest(
        market.open_interest_for_balance(True),
        market.open_interest_for_balance(False),
        size_delta_usd,
        is_long,
    )
    impact = price_impact_usd(*oi, config, fallback_to_zero)
    inventory = market.state.virtual_inventory_for_positions
    if impact.delta_usd > 0 or inventory == 0:
        return impact
    # a positive virtual inventory means the virtual shorts exceed the longs
    virtual_long, virtual_short = (0, inventory) if inventory > 0 else (-inventory, 0)
    if size_delta_usd < 0:
        virtual_long += -size_delta_usd
        virtual_short += -size_delta_usd
    virtual = price_impact_usd(
        *_next_open_interest(virtual_long, virtual_short, size_delta_usd, is_long), config, fallback_to_zero
    )
    return PriceImpact(min(virtual.delta_usd, impact.delta_usd), impact.balance_was_improved)


def max_position_impact_factors(config: MarketConfig) -> tuple[int, int]:
    """(max positive, max negative) impact factors; the positive one never exceeds the negative one."""
    negative = config.max_position_impact_factor_negative
    return min(config.max_position_impact_factor_positive, negative), negative


def cap_by_max_impact_factor(config: MarketConfig, size_delta_usd: int, impact_usd: int) -> int:
    """Caps |impact| at |size delta| * the max factor for its sign."""
    max_positive, max_negative = max_position_impact_factors(config)
    cap = apply_factor(abs(size_delta_usd), max_positive if impact_usd > 0 else max_negative)
    if abs(impact_usd) > cap:
        return cap if impact_usd > 0 else -cap
    return impact_usd


def cap_by_impact_pool(market: Market, impact_usd: int) -> int:
    """Caps a positive impact at the impact pool's value at the index token's min price."""
    if impact_usd < 0:
        return impact_usd
    index = market.state.index_token
    pool_usd = convert_to_usd(
        market.state.position_impact_pool_amount, index.decimals, index.prices.min_price
    )
    return min(impact_usd, pool_usd)


def capped_position_impact_usd(
    market: Market,
    size_delta_usd: int,
    is_long: bool,
    is_increase: bool,
    cap_negative_impact: bool = False,
    fallback_to_zero: bool = False,
) -> PriceImpact:
    """The impact of an increase (or a decrease of `size_delta_usd`) capped by the max impact factors;
    a negative impact stays uncapped unless `cap_negative_impact`."""
    signed_delta = size_delta_usd if is_increase else -size_delta_usd
    impact = price_impact_for_position(market, signed_delta, is_long, fallback_to_zero)
    if impact.delta_usd < 0 and not cap_negative_impact:
        return impact
    capped = cap_by_max_impact_factor(market.config, signed_delta, impact.delta_usd)
    return PriceImpact(capped, impact.balance_was_improved)


@dataclass(frozen=True)
class ProportionalPendingImpact:
    """The share of a position's pending impact (index tokens) that a decrease realizes, and its USD."""

    amount: int
    usd: int


def proportional_pending_impact(
    market: Market, size_in_usd: int, pending_impact_amount: int, size_delta_usd: int
) -> ProportionalPendingImpact:
    """pending * size delta / size, valued at min price if a gain and max price if a cost.

    The front end asks for rounding away from zero when the pending impact is negative, but its
    mulDiv never rounds a negative quotient: the share is truncated toward zero in both cases.
    """
    amount = 0
    if size_delta_usd != 0 and size_in_usd != 0:
        amount = mul_div(pending_impact_amount, size_delta_usd, size_in_usd, pending_impact_amount < 0)
    index = market.state.index_token
    price = index.prices.min_price if amount > 0 else index.prices.max_price
    return ProportionalPendingImpact(amount, convert_to_usd(amount, index.decimals, price))


@dataclass(frozen=True)
class DecreaseImpact:
    """A decrease's net impact: the new impact plus the realized pending impact, capped (`total_usd`);
    the realized pending part (`pending_usd`); and the negative impact beyond the max negative factor
    (`capped_diff_usd`, >= 0), which the contracts hold back and let the trader claim later."""

    total_usd: int
    pending_usd: int
    capped_diff_usd: int


def net_price_impact_for_decrease(
    market: Market, size_in_usd: int, pending_impact_amount: int, impact_delta_usd: int, size_delta_usd: int
) -> DecreaseImpact:
    """The net impact of decreasing a position of `size_in_usd` by `size_delta_usd` given the new
    trade's impact `impact_delta_usd`: a gain is capped by the max positive factor and the impact pool,
    a loss beyond the max negative factor is reported as `capped_diff_usd` but left in `total_usd`."""
    pending = proportional_pending_impact(market, size_in_usd, pending_impact_amount, size_delta_usd)
    total = impact_delta_usd + pending.usd
    capped_diff = 0
    if total <= 0:
        max_negative = -apply_factor(size_delta_usd, max_position_impact_factors(market.config)[1])
        if total < max_negative:
            capped_diff = max_negative - total
    if total > 0:
        total = cap_by_max_impact_factor(market.config, size_delta_usd, total)
    return DecreaseImpact(cap_by_impact_pool(market, total), pending.usd, capped_diff)
